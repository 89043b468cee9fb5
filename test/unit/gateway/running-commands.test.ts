import t from 'tap'
import { spawn } from 'node:child_process'
import { KILL_GRACE_MS, RunningCommands } from '../../../gateway/running-commands.js'
import { groupMembers, isAlive } from '../../harness/procs.js'
import { waitFor } from '../../harness/ports.js'

// The gateway's registry of remote commands in flight: timeout and stopAll kill whole
// process groups (the leader and what it started), SIGKILL when SIGTERM is ignored.

const startGroup = (script: string): { pid: number; exited: Promise<void> } => {
  const child = spawn('/bin/sh', ['-c', script], { detached: true, stdio: 'ignore' })
  return { pid: child.pid!, exited: new Promise(resolve => child.once('exit', () => resolve())) }
}

t.test('a timeout stops the group with reason "timeout"; SIGKILL follows an ignored SIGTERM', async t => {
  const running = new RunningCommands()
  // The leader ignores SIGTERM and has a child: both must go.
  const g = startGroup('trap "" TERM; sleep 60 & wait')
  const entry = running.add(g.pid, 200)
  t.equal(running.size, 1)
  const t0 = Date.now()
  await g.exited
  entry.exited()
  t.equal(entry.reason, 'timeout')
  t.ok(Date.now() - t0 >= 200 + KILL_GRACE_MS - 100, 'SIGKILL after the grace')
  t.equal(running.size, 0)
  await waitFor('nothing of the group left', () => groupMembers(g.pid).length === 0, 5000)
  t.same(groupMembers(g.pid), [], 'nothing of the group is left (the ignored SIGTERM was followed by SIGKILL)')
})

t.test('stopAll stops every command and waits for them', async t => {
  const running = new RunningCommands()
  const a = startGroup('sleep 60')
  const b = startGroup('sleep 60')
  const ea = running.add(a.pid, 0)
  const eb = running.add(b.pid, 0)
  void a.exited.then(() => ea.exited())
  void b.exited.then(() => eb.exited())
  await running.stopAll('gateway-stopping')
  t.equal(running.size, 0)
  t.equal(ea.reason, 'gateway-stopping')
  await waitFor('both gone', () => !isAlive(a.pid) && !isAlive(b.pid), 5000)
  t.pass('both groups are gone')
  ea.stop('timeout')
  t.equal(ea.reason, 'gateway-stopping', 'the first reason wins; stopping an exited command does nothing')
})
