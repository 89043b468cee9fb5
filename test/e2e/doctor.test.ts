import t from 'tap'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { podmanFix } from '../../conductor/doctor.js'
import { binPath, cliProcess, repoRoot } from '../harness/cli.js'
import { freePort, waitFor } from '../harness/ports.js'
import { tempDir, writeTree } from '../harness/tmp.js'

const containersConf = path.join(repoRoot, 'test/fixtures/containers.conf')

t.test('doctor runs real checks: podman run works, the gateway answers, a broken service is named; exit 1 on any failure', async t => {
  const root = tempDir(t)
  writeTree(root, {
    'etc/conductor/services/ok/conductor-service.json': { app_name: 'ok' },
    'etc/conductor/services/broken/conductor-service.json': { app_nme: 'x' }
  })
  const port = await freePort()
  const env = { CONDUCTOR_ROOT: root, CONTAINERS_CONF: containersConf, HOME: root }
  const down = await cliProcess(['doctor', '--json', '--gateway', `127.0.0.1:${port}`], env)
  t.equal(down.code, 1)
  const checks = Object.fromEntries((JSON.parse(down.stdout).checks as Array<{ name: string, ok: boolean, detail: string, fix?: string }>).map(c => [c.name, c]))
  t.equal(checks.podman!.ok, true, checks.podman!.detail)
  t.match(checks.podman!.detail, /podman run works/)
  t.equal(checks.gateway!.ok, false)
  t.match(checks.gateway!.fix, /start it/)
  t.equal(checks['service files']!.ok, false)
  t.match(checks['service files']!.detail, /broken\/conductor-service\.json: \/app_nme: unknown field/)

  const gw = spawn(process.execPath, [binPath, 'gateway', '--listen', `127.0.0.1:${port}`, '--metrics-listen', 'none', '--max-event-loop-delay', '0', '--log-level', 'error'], { env: { ...process.env, ...env }, stdio: 'ignore' })
  t.teardown(() => { gw.kill('SIGKILL') })
  await waitFor('gateway', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 15_000)
  const up = await cliProcess(['doctor', '--gateway', `127.0.0.1:${port}`], env)
  t.match(up.stdout, new RegExp(`✓ gateway: http://127.0.0.1:${port}/healthz -> 200`))
  t.match(up.stdout, /✓ podman: podman [\d.]+, podman run works/)
  t.match(up.stdout, /✗ service files: /)
})

t.test('podman failures seen on minimal VMs map to their containers.conf fix', async t => {
  t.match(podmanFix('error setting rlimits for ready process: error setting rlimit type 7: operation not permitted'), /default_ulimits/)
  t.match(podmanFix("crun: setrlimit 'RLIMIT_NOFILE': Operation not permitted"), /default_ulimits/)
  t.match(podmanFix('crun: cgroups in hybrid mode not supported, drop all controllers from cgroupv2'), /runtime = "runc".*cgroupfs/)
  t.match(podmanFix('something else'), /by hand/)
})
