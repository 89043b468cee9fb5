import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { startUserManager, type UserManager } from '../../harness/systemd.js'
import { writeTree } from '../../harness/tmp.js'

// The harness's user managers (scripts/user-manager.sh) each live in a cgroup of their own.
// Started in place, a manager moved every process of the cgroup it started in (on these VMs the
// root cgroup: tap, the CI runner, every other test) into its init.scope, and two managers
// shared one tree, so that stopping a unit in one killed the unit of the same name in the other
// (conductor-gateway.service of two test files running side by side).

const ownCgroups = (pid: number | string = 'self'): string => readFileSync(`/proc/${pid}/cgroup`, 'utf8')
/** The path in the hierarchy systemd tracks processes in (name=systemd, else cgroup2). */
const trackingPath = (pid: number | string = 'self'): string => {
  const lines = ownCgroups(pid).trim().split('\n')
  const line = lines.find(l => l.split(':')[1] === 'name=systemd') ?? lines.find(l => l.startsWith('0::'))!
  return line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1)
}
const unit = '[Service]\nExecStart=/bin/sleep 600\n'
const controlGroup = (sd: UserManager): string =>
  sd.systemctl('show', '-p', 'ControlGroup', '--value', 'same-name.service').stdout.trim()

t.test('two user managers side by side: each in its own cgroup, the test process left where it was', async t => {
  const before = ownCgroups()
  const a = await startUserManager(t)
  const b = await startUserManager(t)
  t.equal(ownCgroups(), before, 'starting managers moved no other process (this one stays in its cgroups)')
  const aPath = trackingPath(a.process.pid!)
  const bPath = trackingPath(b.process.pid!)
  t.match(aPath, /\/conductor-test-\d+-\d+\/init\.scope$/, `manager a in a cgroup of its own (${aPath})`)
  t.not(aPath, bPath, 'manager b in another one')

  for (const sd of [a, b]) {
    writeTree(sd.unitsDir, { 'same-name.service': unit })
    t.equal(sd.systemctl('start', 'same-name.service').code, 0)
  }
  t.not(controlGroup(a), controlGroup(b), `units of the same name get separate cgroups (${controlGroup(a)})`)
  t.equal(a.systemctl('stop', 'same-name.service').code, 0)
  t.equal(b.systemctl('is-active', 'same-name.service').stdout.trim(), 'active', "stopping a's unit leaves b's running")

  const mount = ownCgroups().includes(':name=systemd:')
    ? '/sys/fs/cgroup/systemd'
    : existsSync('/sys/fs/cgroup/unified')
      ? '/sys/fs/cgroup/unified'
      : '/sys/fs/cgroup'
  const aDir = mount + aPath.replace(/\/init\.scope$/, '')
  t.ok(existsSync(aDir), `a's cgroup exists while it runs (${aDir})`)
  await a.stop()
  t.notOk(existsSync(aDir), "a's cgroup is removed when it stops")
  t.equal(b.systemctl('is-active', 'same-name.service').stdout.trim(), 'active', "b's unit survives a's shutdown")
  await b.stop()
  t.equal(ownCgroups(), before, 'and this process is still where it started')
})
