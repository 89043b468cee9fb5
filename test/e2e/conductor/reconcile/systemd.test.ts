import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { cli } from '../../../harness/cli.js'
import { waitFor } from '../../../harness/ports.js'
import { cliArgs, deployments, page, startReconcileHost } from '../../../harness/reconcile-host.js'
import { podsNamed } from '../../../harness/systemd.js'

// The "Done when", for real: a systemd user manager, real Podman pods from the local
// busybox image, `conductor system install` + `reload` through the CLI. Loopback only. This file
// follows one service's deployments (install, reload, stop/start, a kill behind Conductor's back,
// restart, a config change through an interrupted reload, disable) and the order of their hooks;
// services.test.ts covers commands, service status/stop and broken services on the same host.

t.test('install, reload, replace, disable on a real user manager and Podman', async t => {
  const t0 = Date.now()
  const step = (name: string): void => {
    t.comment(`${name} at ${Date.now() - t0} ms`)
  }
  const { sd, root, svcName, svcDir, hookLog, caddyAdmin, caddyListen, env, service } = await startReconcileHost(t, {
    svcPrefix: 'web',
    hooks: true
  })
  step('manager up')

  step('before 1')
  // 1. install: units written, one daemon-reload; a second install writes nothing.
  let r = await cli(['system', 'install'], env)
  t.equal(r.code, 0, r.stderr)
  for (const unit of [
    'conductor-service@.service',
    'conductor-deployment@.service',
    'conductor-gateway.service',
    'caddy.service'
  ]) {
    t.ok(existsSync(path.join(sd.unitsDir, unit)), `${unit} installed`)
  }
  t.match(
    JSON.parse(readFileSync(path.join(root, 'etc/conductor/caddy.json'), 'utf8')),
    {
      admin: { listen: caddyAdmin },
      apps: { http: { servers: { conductor: { '@id': 'conductor-server', listen: [caddyListen] } } } }
    },
    'default caddy.json uses host.json caddy_admin and caddy_listen'
  )
  r = await cli(['system', 'install'], env)
  t.match(r.stdout, /nothing written/, 'install is idempotent')

  step('before 2')
  // 2. reload: one deployment, the page answers on its loopback port.
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /create deployment of/)
  const first = deployments(root)
  t.equal(first.length, 1, 'one deployment recorded')
  const d1 = first[0]!
  t.equal(sd.systemctl('is-active', `conductor-deployment@${d1.id}.service`).stdout.trim(), 'active')
  t.equal(sd.systemctl('is-active', `conductor-service@${svcName}.service`).stdout.trim(), 'active')
  t.equal(sd.systemctl('is-active', 'caddy.service').stdout.trim(), 'active', 'caddy.service pulled in by Requires=')
  t.match(
    readFileSync(path.join(sd.unitsDir, `conductor-deployment@${d1.id}.service.d/50-conductor.conf`), 'utf8'),
    'TimeoutStopSec=20',
    'service_directives in a drop-in'
  )
  await waitFor('pod page', async () => (await page(d1.ports.http!)).includes(`hello from ${d1.id}`), 15_000, 100)
  t.match(await page(d1.ports.http!), `hello from ${d1.id}`, 'page served by the pod on 127.0.0.1')
  t.not(d1.pod_ip, '', 'POD_IP_ADDRESS recorded')

  step('before 3')
  // 3. a second reload has nothing to do.
  r = await cli(['reload'], env)
  t.equal(r.code, 0)
  t.match(r.stdout, /nothing to do/)

  step('before 4')
  // 4. listings show the running state.
  r = await cli(['deployment', 'ls', '--json'], env)
  const ls = JSON.parse(r.stdout) as Array<{ id: string; unit_state: string; columns: Record<string, string> }>
  t.equal(ls[0]?.unit_state, 'active')
  t.equal(ls[0]?.columns.GREETING, 'hello')
  t.equal(ls[0]?.columns.CONDUCTOR_PORT, String(d1.ports.http))
  r = await cli(['deployment', 'ls'], env)
  t.match(r.stdout, /^ID\s+SERVICE\s+PART\s+DESIRED\s+UNIT\s+PORTS\s+GREETING\s+CONDUCTOR_PORT\n/)
  t.match(
    r.stdout,
    new RegExp(`${d1.id}\\s+${svcName}\\s+-\\s+running\\s+active\\s+http=${d1.ports.http}\\s+hello\\s+${d1.ports.http}`)
  )
  r = await cli(['service', 'ls'], env)
  t.match(r.stdout, /yes \(1 deployment\)/, 'service ls shows running state')
  r = await cli(['deployment', 'env', d1.id], env)
  t.match(r.stdout, `CONDUCTOR_PORT_HTTP=${d1.ports.http}`)
  t.match(r.stdout, `POD_IP_ADDRESS=${d1.pod_ip}`)

  step('before 6')
  // 6. deployment stop/start keep the id and ports.
  r = await cli(['deployment', 'stop', d1.id], env)
  t.equal(r.code, 0, r.stderr)
  t.equal(podsNamed(d1.id).length, 0, 'pod gone after deployment stop')
  r = await cli(['reload', '--dry-run'], env)
  t.match(r.stdout, /nothing to do/, 'a deployment stopped by the operator is left alone')
  r = await cli(['deployment', 'start', d1.id], env)
  t.equal(r.code, 0, r.stderr)
  await waitFor('pod page again', async () => (await page(d1.ports.http!)).includes(d1.id), 15_000, 100)

  step('before 7')
  // 7. kill the pod's unit behind conductor's back: reload restarts it.
  sd.systemctl('kill', '--signal=SIGKILL', `conductor-deployment@${d1.id}.service`)
  await waitFor(
    'unit not active',
    () => sd.systemctl('is-active', `conductor-deployment@${d1.id}.service`).stdout.trim() !== 'active',
    10_000
  )
  sd.systemctl('stop', `conductor-deployment@${d1.id}.service`)
  r = await cli(['reload'], env)
  t.match(r.stdout, `start deployment ${d1.id}`)
  r = await cli(['deployment', 'ls', '--json'], env)
  t.match(JSON.parse(r.stdout), [{ id: d1.id, unit_state: 'active', desired: 'running' }], 'running again')

  step('before 7b')
  // 7b. restart: a new deployment replaces the current one, same config.
  r = await cli(['service', 'restart', svcName], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  const restarted = deployments(root)
  t.equal(restarted.length, 1)
  const d1b = restarted[0]!
  t.not(d1b.id, d1.id, 'restart made a new deployment')
  await waitFor(
    'restarted pod page',
    async () => (await page(d1b.ports.http!)).includes(`hello from ${d1b.id}`),
    15_000,
    100
  )
  t.equal(podsNamed(d1.id).length, 0, 'the replaced pod is gone')

  step('before 8')
  // 8. config change: a new deployment replaces the old one, even when the reload doing it is
  // killed with SIGKILL at some point: the next reload converges.
  writeFileSync(path.join(svcDir, 'conductor-service.json'), JSON.stringify(service('bonjour')))
  r = await cli(['reload', '--dry-run'], env)
  t.match(r.stdout, /create deployment.*config or templates changed/)
  t.match(r.stdout, `remove deployment ${d1b.id} (replaced)`)
  // Within the reload's own duration (~1.5 s on the 2026-12-01 VM, more on a loaded one).
  const killAfter = 200 + Math.floor(Math.random() * 1000)
  const started = Date.now()
  const killed = spawn(process.execPath, [...cliArgs(), 'reload'], { env, stdio: 'ignore' })
  // Listen before the wait: a reload that finishes within killAfter has emitted 'exit' already.
  const killedExit = new Promise<number>(resolve => killed.once('exit', () => resolve(Date.now() - started)))
  await new Promise(resolve => setTimeout(resolve, killAfter))
  killed.kill('SIGKILL')
  const ranMs = await killedExit
  t.comment(
    killed.signalCode === 'SIGKILL'
      ? `reload killed with SIGKILL after ${killAfter} ms`
      : `reload finished (exit ${killed.exitCode}) in ${ranMs} ms, before the kill at ${killAfter} ms`
  )
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  r = await cli(['reload'], env)
  t.match(r.stdout, /nothing to do/, 'converged after the interrupted reload')
  const second = deployments(root)
  t.equal(second.length, 1, 'old deployment removed')
  const d2 = second[0]!
  t.not(d2.id, d1.id)
  await waitFor('new page', async () => (await page(d2.ports.http!)).includes(`bonjour from ${d2.id}`), 15_000, 100)
  t.match(await page(d2.ports.http!), `bonjour from ${d2.id}`, 'new page')
  t.equal(podsNamed(d1b.id).length, 0, 'old pod gone')
  t.notOk(existsSync(path.join(sd.unitsDir, `conductor-deployment@${d1b.id}.service.d`)), 'old drop-in gone')

  step('before 10')
  // 10. disable: nothing left.
  writeFileSync(path.join(svcDir, 'conductor-service.json'), JSON.stringify(service('bonjour', true)))
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /service disabled/)
  t.same(deployments(root), [], 'no deployment recorded')
  t.same(podsNamed(svcName + '-'), [], 'no pod left')
  const units = sd.systemctl('list-units', '--all', '--plain', '--no-legend', 'conductor-*').stdout
  t.notMatch(units, /\bactive\b.*running|conductor-deployment@.*active/, 'no conductor unit active')
  t.equal(sd.systemctl('is-active', `conductor-service@${svcName}.service`).stdout.trim(), 'inactive')
  t.same(
    readdirSync(sd.unitsDir).filter(f => f.endsWith('.d') && f.startsWith('conductor-deployment@')),
    [],
    'no deployment drop-in left'
  )

  step('end')
  // Hooks fired in order, with POD_IP_ADDRESS known after the start.
  const log = readFileSync(hookLog, 'utf8')
    .trim()
    .split('\n')
    .map(l => l.trimEnd())
  t.same(
    log.slice(0, 4),
    ['pre-start-service service', 'post-start-service service', `pre-start ${d1.id}`, `post-start ${d1.id} ip`],
    'start hooks in order'
  )
  t.ok(
    log.includes(`pre-stop ${d1.id} ip`) && log.indexOf(`pre-stop ${d1.id} ip`) < log.indexOf(`post-stop ${d1.id} ip`),
    'stop hooks in order'
  )
  t.same(
    log.slice(-4),
    [`pre-stop ${d2.id} ip`, `post-stop ${d2.id} ip`, 'pre-stop-service service', 'post-stop-service service'],
    'disable runs stop hooks then service stop hooks'
  )
})
