import t from 'tap'
import { existsSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { systemdDriver } from '../../../../conductor/host/index.js'
import { listUnitsOverBus, privateSocket } from '../../../../conductor/host/systemd-bus.js'
import { startUserManager } from '../../../harness/systemd.js'

// conductor/host/systemd-bus.ts asks a real systemd user manager for its units over the private
// socket systemctl uses, instead of running `systemctl list-units`. What it returns must be what
// systemctl prints for the same patterns: units in every state (active, inactive, failed), and
// the manager's whole table for "*" (a reply of many reads on the socket).

type Row = { unit: string; active: string; sub: string }
const byUnit = (a: Row, b: Row): number => a.unit.localeCompare(b.unit)

t.test('ListUnitsByPatterns over the private socket answers as systemctl list-units --all', async t => {
  const sd = await startUserManager(t)
  const unit = (name: string, unitSection: string, service: string): void =>
    writeFileSync(path.join(sd.unitsDir, `${name}.service`), `[Unit]\n${unitSection}\n[Service]\n${service}\n`)
  // "idle" is never started, but loaded: "up" is ordered after it (an unreferenced inactive unit
  // is unloaded at once, and listed by neither).
  unit('conductor-bus-up', 'After=conductor-bus-idle.service', 'ExecStart=/bin/sleep 600')
  unit('conductor-bus-idle', '', 'ExecStart=/bin/sleep 600')
  unit('conductor-bus-oneshot', '', 'Type=oneshot\nRemainAfterExit=yes\nExecStart=/bin/true')
  unit('conductor-bus-fails', '', 'Type=oneshot\nExecStart=/bin/false')
  t.equal(sd.systemctl('daemon-reload').code, 0)
  t.equal(sd.systemctl('start', 'conductor-bus-up.service', 'conductor-bus-oneshot.service').code, 0)
  sd.systemctl('start', 'conductor-bus-fails.service') // fails: the unit is left "failed"

  const socket = privateSocket(['--user'], sd.env)
  t.equal(socket, path.join(sd.runtimeDir, 'systemd/private'), 'the user manager: $XDG_RUNTIME_DIR/systemd/private')
  t.ok(existsSync(socket!), 'the manager created it')

  const viaSystemctl = (pattern: string): Row[] =>
    (JSON.parse(sd.systemctl('list-units', '--all', '--no-pager', '--output=json', pattern).stdout) as Row[])
      .map(r => ({ unit: r.unit, active: r.active, sub: r.sub }))
      .sort(byUnit)
  const ours = (await listUnitsOverBus(socket!, ['conductor-*'])).map(u => ({
    unit: u.unit,
    active: u.active,
    sub: u.sub
  }))
  t.same(ours.sort(byUnit), viaSystemctl('conductor-*'), 'conductor-*: the same units and states as systemctl')
  t.match(
    ours,
    [
      { unit: 'conductor-bus-fails.service', active: 'failed', sub: 'failed' },
      { unit: 'conductor-bus-idle.service', active: 'inactive', sub: 'dead' },
      { unit: 'conductor-bus-oneshot.service', active: 'active', sub: 'exited' },
      { unit: 'conductor-bus-up.service', active: 'active', sub: 'running' }
    ],
    'every state is there (not vacuous)'
  )

  const all = (await listUnitsOverBus(socket!, ['*'])).map(u => ({ unit: u.unit, active: u.active, sub: u.sub }))
  t.ok(all.length > 20, `"*": the manager's table (${all.length} units)`)
  t.same(all.sort(byUnit), viaSystemctl('*'), '"*": the same as systemctl')

  // No systemctl on this PATH: a listing can only have come over the socket.
  const driver = systemdDriver(['--user'], { ...sd.env, PATH: '/nonexistent' })
  t.same(
    (await driver.list(['conductor-bus-*'])).sort(byUnit),
    viaSystemctl('conductor-bus-*'),
    'the driver lists through it (no systemctl on its PATH)'
  )
})

t.test('no private socket: the driver asks systemctl, whose error says why', async t => {
  t.equal(privateSocket(['--user'], {}), undefined, 'no XDG_RUNTIME_DIR: no socket to try')
  const nowhere = path.join(t.testdirName, 'no-such-runtime')
  await t.rejects(listUnitsOverBus(path.join(nowhere, 'systemd/private'), ['*']), { code: 'ENOENT' })
  const driver = systemdDriver(['--user'], { PATH: process.env.PATH, XDG_RUNTIME_DIR: nowhere })
  await t.rejects(driver.list(['conductor-*']), /systemctl --user list-units .* failed/, "systemctl's own failure")
})
