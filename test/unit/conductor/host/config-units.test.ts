import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { resolveRoots } from '../../../../conductor/model/roots.js'
import { resolveScope } from '../../../../conductor/model/scope.js'
import { planInstall } from '../../../../conductor/host/install.js'
import {
  clearReceipt,
  configUnitOf,
  readReceipts,
  receiptPath,
  renderDeploymentConfigTemplate,
  renderServiceConfigTemplate,
  staleReceipts,
  writeReceipt,
  type Receipt
} from '../../../../conductor/host/config-units.js'
import type { UnitPaths } from '../../../../conductor/host/unit-files.js'
import { tempDir } from '../../../harness/tmp.js'

// The config units as text (issue 16 item 2), through `systemd-analyze verify`, and what their
// ExecStart/ExecStopPost do with a receipt, run the way systemd runs them (sh -c, $$ unescaped).

const roots = resolveRoots({ root: '/' }, {})
const paths = (scope: 'system' | 'user', environment: Record<string, string> = {}): UnitPaths => ({
  scope,
  deploymentsDir: roots.deployments,
  etcDir: roots.etc,
  libDir: roots.lib,
  runDir: roots.run,
  podman: '/usr/bin/podman',
  caddy: '/usr/bin/caddy',
  conductor: ['/usr/bin/node', '/usr/lib/conductor/dist/conductor/bin.js'],
  environment,
  caddyAdmin: 'localhost:2019',
  caddyListen: [':80', ':443'],
  gatewayListen: '127.0.0.1:2080'
})
const NODE = '/usr/bin/node /usr/lib/conductor/dist/conductor/bin.js'
const receiptSh = (kind: string): string =>
  `/bin/sh -c 'rm -- "$$0" 2>/dev/null || exec "$$@"' /run/conductor/units/%n.${kind} ${NODE}`

t.test('deployment config unit: bound to its deployment, oneshot, attach/detach unless a receipt', async t => {
  const text = renderDeploymentConfigTemplate(paths('system'))
  t.match(
    text,
    /^BindsTo=conductor-deployment@%i\.service\nAfter=conductor-deployment@%i\.service$/m,
    'stops with its deployment (any stop, a crash too), and before it: routes leave before the pod stops'
  )
  t.match(text, /^Type=oneshot\nRemainAfterExit=yes$/m)
  t.match(text, `ExecStart=${receiptSh('start')} _ deployment attach %i\n`)
  t.match(
    text,
    `ExecStopPost=${receiptSh('stop')} _ deployment detach %i\n`,
    'detach also after an interrupted or failed attach'
  )
  t.notMatch(text, '[Install]', 'started by its deployment unit (Wants=), never on its own')
})

t.test('service config unit: bound to its service unit', async t => {
  const text = renderServiceConfigTemplate(paths('user', { CONDUCTOR_ROOT: '/tmp/a b' }))
  t.match(text, /^BindsTo=conductor-service@%i\.service\nAfter=conductor-service@%i\.service$/m)
  t.match(text, `ExecStart=${receiptSh('start')} _ service attach %i\n`)
  t.match(text, `ExecStopPost=${receiptSh('stop')} _ service detach %i\n`)
  t.match(text, 'Environment="CONDUCTOR_ROOT=/tmp/a b"\n', 'the units get the environment of the others')
})

t.test('main units pull their config unit in; install writes both templates', async t => {
  const scope = resolveScope('system', {}, {}, roots)
  const plan = planInstall(paths('system'), scope, roots, true, true)
  const byName = Object.fromEntries(plan.files.map(f => [path.basename(f.path), f.content]))
  t.match(byName['conductor-deployment@.service']!, /^Wants=conductor-deployment-config@%i\.service$/m)
  t.match(byName['conductor-service@.service']!, /^Wants=conductor-service-config@%i\.service$/m)
  t.ok(byName['conductor-deployment-config@.service'] !== undefined)
  t.ok(byName['conductor-service-config@.service'] !== undefined)
  t.equal(configUnitOf('conductor-deployment@web-abc.service'), 'conductor-deployment-config@web-abc.service')
  t.equal(configUnitOf('conductor-service@web.service'), 'conductor-service-config@web.service')
  t.equal(configUnitOf('conductor-gateway.service'), undefined)
})

t.test('config units pass systemd-analyze verify', async t => {
  const dir = tempDir(t)
  const scope = { ...resolveScope('system', {}, {}, roots), unitsDir: dir }
  const plan = planInstall(paths('system'), scope, roots, true, true)
  const content = (name: string): string => plan.files.find(f => f.path.endsWith(`/${name}`))!.content
  const instances: Array<[string, string]> = [
    ['conductor-deployment-config@web-abc.service', 'conductor-deployment-config@.service'],
    ['conductor-deployment@web-abc.service', 'conductor-deployment@.service'],
    ['conductor-service-config@web.service', 'conductor-service-config@.service'],
    ['conductor-service@web.service', 'conductor-service@.service']
  ]
  for (const [inst, tmpl] of instances) writeFileSync(path.join(dir, inst), content(tmpl))
  // caddy.service is what every unit Requires=; a stand-in makes the check complete.
  writeFileSync(path.join(dir, 'caddy.service'), '[Service]\nExecStart=/bin/true\n')
  const r = spawnSync('systemd-analyze', ['verify', ...instances.map(([i]) => path.join(dir, i))], {
    encoding: 'utf8',
    env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` }
  })
  const problems = `${r.stdout}${r.stderr}`
    .split('\n')
    .filter(l => l.includes(dir) || /Unknown|Failed|Invalid/i.test(l))
  t.same(problems, [], 'no warning about our units')
  t.equal(r.status, 0)
})

t.test('ExecStart with a receipt: consumes it and runs nothing; without: runs the command', async t => {
  const run = tempDir(t)
  const marker = path.join(run, 'ran')
  // The command line as systemd runs it: %n replaced, $$ turned into $.
  const conductor = ['/bin/sh', '-c', `echo "$*" > ${marker}`, 'x']
  const text = renderDeploymentConfigTemplate({ ...paths('system'), runDir: run, conductor })
  const unit = 'conductor-deployment-config@w-1.service'
  const line = /^ExecStart=(.*)$/m.exec(text)![1]!.replace(/%n/g, unit).replace(/%i/g, 'w-1').replace(/\$\$/g, '$')
  writeReceipt(run, unit, 'start')
  t.ok(existsSync(receiptPath(run, unit, 'start')))
  let r = spawnSync('/bin/sh', ['-c', line], { encoding: 'utf8' })
  t.equal(r.status, 0)
  t.notOk(existsSync(marker), 'a receipt: the work was done, nothing runs')
  t.same(readdirSync(path.join(run, 'units')), [], 'the receipt is consumed')
  r = spawnSync('/bin/sh', ['-c', line], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stderr, '', 'no noise from the missing receipt')
  t.ok(existsSync(marker), 'no receipt: the command runs')
  writeReceipt(run, unit, 'stop')
  clearReceipt(run, unit, 'stop')
  t.same(readdirSync(path.join(run, 'units')), [])
})

t.test('receipts read back with their writer and whether the stop was only queued', async t => {
  const run = tempDir(t)
  writeReceipt(run, 'conductor-deployment-config@w-1.service', 'stop', true)
  writeReceipt(run, 'conductor-service-config@w.service', 'start')
  writeFileSync(path.join(run, 'units', 'conductor-deployment-config@w-2.service.stop'), 'garbage\n')
  writeFileSync(path.join(run, 'units', 'not-a-receipt'), '')
  t.same(readReceipts(run), [
    { unit: 'conductor-deployment-config@w-1.service', kind: 'stop', pid: process.pid, queued: true },
    { unit: 'conductor-deployment-config@w-2.service', kind: 'stop', pid: undefined, queued: false },
    { unit: 'conductor-service-config@w.service', kind: 'start', pid: process.pid, queued: false }
  ])
  t.same(readReceipts(path.join(run, 'nowhere')), [], 'no directory: none')
})

t.test("stale receipts: a killed writer's go; a live writer's and a queued stop not yet run stay", async t => {
  const DEAD = 999_999
  const LIVE = 4242
  const SELF = 1000
  const alive = (pid: number): boolean => pid === LIVE || pid === SELF
  const r = (unit: string, kind: 'start' | 'stop', pid: number | undefined, queued = false): Receipt => ({
    unit,
    kind,
    pid,
    queued
  })
  const queuedStop = r('conductor-deployment-config@old.service', 'stop', DEAD, true)
  const stale = (states: Record<string, string>, ...receipts: Receipt[]): Receipt[] =>
    staleReceipts(receipts, u => states[u], alive, SELF)
  // The deploy that queued the stop has exited; systemd has not run the config unit's stop yet.
  for (const state of ['active', 'deactivating'])
    t.same(stale({ [queuedStop.unit]: state }, queuedStop), [], `queued stop, config unit ${state}: kept`)
  // Stopped without consuming it (it was not active), or unloaded: nothing will consume it.
  for (const state of ['inactive', 'failed'])
    t.same(stale({ [queuedStop.unit]: state }, queuedStop), [queuedStop], `queued stop, unit ${state}: removed`)
  t.same(stale({}, queuedStop), [queuedStop], 'queued stop, unit not loaded: removed')
  t.same(stale({}, r('u', 'start', LIVE), r('u', 'stop', LIVE)), [], 'a live writer removes its own: kept')
  const killed = [r('a', 'start', DEAD), r('b', 'stop', DEAD), r('c', 'stop', undefined), r('d', 'stop', SELF)]
  t.same(stale({ a: 'active', b: 'deactivating' }, ...killed), killed, "a killed writer's (not queued) are removed")
  t.same(
    stale({ q: 'active' }, r('q', 'start', DEAD, true)),
    [r('q', 'start', DEAD, true)],
    'only a stop can be queued'
  )
})
