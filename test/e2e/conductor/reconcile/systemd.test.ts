import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { binPath, cli, repoRoot } from '../../../harness/cli.js'
import { freePort, waitFor } from '../../../harness/ports.js'
import { podsNamed, removePods, startUserManager } from '../../../harness/systemd.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// The "Done when", for real: a systemd user manager, real Podman pods from the local
// busybox image, `conductor system install` + `reload` through the CLI. Loopback only.

const svcName = `web${Math.random().toString(36).slice(2, 7)}`
const podTemplate = `#!/bin/sh
cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: \${POD_NAME}
spec:
  containers:
    - name: httpd
      image: localhost/busybox:latest
      command: ["sh", "-c", "mkdir -p /www && echo \\"\${GREETING} from \${CONDUCTOR_DEPLOYMENT}\\" > /www/index.html && exec httpd -f -p 8080 -h /www"]
      ports:
        - containerPort: 8080
          hostPort: \${CONDUCTOR_PORT_HTTP}
          hostIP: 127.0.0.1
YAML
`
const hook = (name: string): string => `#!/bin/sh
echo "${name} \${CONDUCTOR_DEPLOYMENT:-service} \${POD_IP_ADDRESS:+ip}" >> "$HOOK_LOG"
`

t.test('install, reload, replace, disable on a real user manager and Podman', async t => {
  const t0 = Date.now()
  const step = (name: string): void => {
    t.comment(`${name} at ${Date.now() - t0} ms`)
  }
  const sd = await startUserManager(t)
  step('manager up')
  t.teardown(() => removePods(svcName + '-'))
  const root = tempDir(t, 'conductor-e2e-root-')
  const hookLog = path.join(root, 'hooks.log')
  const caddyAdmin = `127.0.0.1:${await freePort()}`
  const env = { ...sd.env, CONDUCTOR_ROOT: root, CONDUCTOR_SCOPE: 'user' }
  const svcDir = path.join(root, 'etc/conductor/services', svcName)
  const service = (greeting: string, disable = false): object => ({
    app_name: 'hello',
    ...(disable ? { disable: true } : {}),
    config: { GREETING: greeting, HOOK_LOG: hookLog },
    pods: [{ name: '', pod_template: './pod.template', ports: ['http'], service_directives: ['TimeoutStopSec=20'] }],
    hooks: [
      'pre-start',
      'post-start',
      'pre-stop',
      'post-stop',
      'pre-start-service',
      'post-start-service',
      'pre-stop-service',
      'post-stop-service'
    ].map(when => ({ id: when, when, exec: [`./${when}.hook`], timeout_sec: 10 })),
    commands: {
      where: { service: true, description: 'print the context', exec: ['./where.cmd'] },
      anyd: { service_any_deployment: true, exec: ['./where.cmd'] },
      ind: { deployment: true, exec: ['./where.cmd'], help_flags: [['--help']], help_args: ['HELP'] }
    },
    display_deployment_config: ['GREETING', 'CONDUCTOR_PORT']
  })
  // Caddy's server on a loopback port (the default, :80 and :443, is for servers).
  const caddyListen = `127.0.0.1:${await freePort()}`
  writeTree(root, {
    'etc/conductor/host.json': { scope: 'user', caddy_admin: caddyAdmin, caddy_listen: [caddyListen] }
  })
  writeTree(svcDir, {
    'conductor-service.json': service('hello'),
    'pod.template': podTemplate,
    'where.cmd':
      '#!/bin/sh\necho "cmd=$CONDUCTOR_COMMAND dir=$CONDUCTOR_COMMAND_DIR ctx=${CONDUCTOR_DEPLOYMENT:-service} pwd=$(pwd) args=$*"\nexit 7\n',
    ...Object.fromEntries(
      [
        'pre-start',
        'post-start',
        'pre-stop',
        'post-stop',
        'pre-start-service',
        'post-start-service',
        'pre-stop-service',
        'post-stop-service'
      ].map(w => [`${w}.hook`, hook(w)])
    )
  })

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
  await waitFor('pod page', async () => (await get(d1.ports.http!)).includes(`hello from ${d1.id}`), 15_000, 100)
  t.match(await get(d1.ports.http!), `hello from ${d1.id}`, 'page served by the pod on 127.0.0.1')
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

  step('before 5')
  // 5. commands in the three contexts, exit status passed through. The first goes through the
  // real binary (inherited stdio); the others run in-process with captured output.
  const here = tempDir(t, 'conductor-e2e-cwd-')
  const p = runBin(['run', '-s', svcName, 'where', 'a', 'b'], env, here)
  t.equal(p.status, 7, 'exit status passed through')
  t.match(p.stdout, `cmd=where dir=${here} ctx=service pwd=${svcDir} args=a b`)
  r = await cli(['run', '-s', svcName, 'anyd'], env)
  t.equal(r.code, 7)
  t.match(
    r.stdout,
    `ctx=${d1.id} pwd=${path.join(root, 'var/lib/conductor/deployments', d1.id)}`,
    'service_any_deployment picks the running deployment'
  )
  r = await cli(['run', '-d', d1.id, 'ind', 'x'], env)
  t.match(r.stdout, `cmd=ind dir=${process.cwd()} ctx=${d1.id}`)
  r = await cli(['run', '-s', svcName, 'ind', '--', '--help'], env)
  t.match(r.stdout, 'args=HELP', 'help_flags allowed in any context, help_args used')
  r = await cli(['run', '-s', svcName, 'ind'], env)
  t.equal(r.code, 2, 'deployment-only command refused with -s')
  t.match(r.stderr, 'use `conductor run -d DEPLOYMENT ind`')
  r = await cli(['action', 'run', svcName, 'where'], env)
  t.match(r.stdout, 'ctx=service', 'action run is run -s')
  r = await cli(['run', '-s', svcName, '--list'], env)
  t.match(r.stdout, /where\s+service\s+print the context/)

  step('before 6')
  // 6. deployment stop/start keep the id and ports.
  r = await cli(['deployment', 'stop', d1.id], env)
  t.equal(r.code, 0, r.stderr)
  t.equal(podsNamed(d1.id).length, 0, 'pod gone after deployment stop')
  r = await cli(['reload', '--dry-run'], env)
  t.match(r.stdout, /nothing to do/, 'a deployment stopped by the operator is left alone')
  r = await cli(['deployment', 'start', d1.id], env)
  t.equal(r.code, 0, r.stderr)
  await waitFor('pod page again', async () => (await get(d1.ports.http!)).includes(d1.id), 15_000, 100)

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
  r = await cli(['service', 'status', svcName, '--json'], env)
  t.match(
    JSON.parse(r.stdout),
    { active: true, deployments: [{ id: d1.id, unit_state: 'active', desired: 'running' }] },
    'service status'
  )
  r = await cli(['service', 'logs', svcName, '--tail', '5'], env)
  t.match(r.stdout, `==> ${d1.id} <==`, 'service logs lists the running deployment')

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
    async () => (await get(d1b.ports.http!)).includes(`hello from ${d1b.id}`),
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
  const killed = spawn(process.execPath, [...binArgs(), 'reload'], { env, stdio: 'ignore' })
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
  await waitFor('new page', async () => (await get(d2.ports.http!)).includes(`bonjour from ${d2.id}`), 15_000, 100)
  t.match(await get(d2.ports.http!), `bonjour from ${d2.id}`, 'new page')
  t.equal(podsNamed(d1b.id).length, 0, 'old pod gone')
  t.notOk(existsSync(path.join(sd.unitsDir, `conductor-deployment@${d1b.id}.service.d`)), 'old drop-in gone')

  step('before 9')
  // 9. a broken service is reported and left alone; a failing pre-start hook aborts its start
  // with the hook's output; the other services are still reconciled.
  const brokenName = `broken${svcName}`
  const failingName = `failing${svcName}`
  writeTree(path.join(root, 'etc/conductor/services'), {
    [`${brokenName}/conductor-service.json`]: '{ "pods": [ { "pod_tmplate": "x" } ] }',
    [`${failingName}/conductor-service.json`]: {
      pods: [{ pod_template: './pod.template', ports: ['http'] }],
      hooks: [{ id: 'check', when: 'pre-start', exec: ['./check.hook'] }]
    },
    [`${failingName}/pod.template`]: podTemplate,
    [`${failingName}/check.hook`]: '#!/bin/sh\necho "database not reachable" >&2\nexit 3\n'
  })
  r = await cli(['reload'], env)
  t.equal(r.code, 1, 'a failed action fails the reload')
  t.match(r.stdout, new RegExp(`! ${brokenName}: left as it runs.*pod_tmplate`))
  t.match(r.stdout, `FAIL create deployment of ${failingName}`)
  t.match(r.stdout, /hook exited with status 3[\s\S]*database not reachable/, 'the hook output is in the error')
  t.notOk(
    deployments(root).some(d => d.id.startsWith(failingName)),
    'nothing half-applied'
  )
  t.match(await get(d2.ports.http!), 'bonjour', 'the other service still runs')
  rmSync(path.join(root, 'etc/conductor/services', brokenName), { recursive: true })
  rmSync(path.join(root, 'etc/conductor/services', failingName), { recursive: true })

  // 9b. service stop removes its deployments and unit; reload starts it again.
  r = await cli(['service', 'stop', svcName], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.same(deployments(root), [], 'service stop removed the deployment')
  t.same(podsNamed(d2.id), [], 'and its pod')
  t.equal(sd.systemctl('is-active', `conductor-service@${svcName}.service`).stdout.trim(), 'inactive')
  r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  const d3 = deployments(root)[0]!
  await waitFor(
    'page after service stop + reload',
    async () => (await get(d3.ports.http!)).includes(`bonjour from ${d3.id}`),
    15_000,
    100
  )

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
    [`pre-stop ${d3.id} ip`, `post-stop ${d3.id} ip`, 'pre-stop-service service', 'post-stop-service service'],
    'disable runs stop hooks then service stop hooks'
  )
})

interface Rec {
  id: string
  ports: Record<string, number>
  pod_ip: string
}
function deployments(root: string): Rec[] {
  const dir = path.join(root, 'var/lib/conductor/deployments')
  if (!existsSync(dir)) return []
  return readdirSync(dir).map(id => JSON.parse(readFileSync(path.join(dir, id, 'state.json'), 'utf8')) as Rec)
}

async function get(port: number): Promise<string> {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/`)).text()
  } catch {
    return ''
  }
}

function runBin(
  args: string[],
  env: Record<string, string>,
  cwd: string
): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...binArgs(), ...args], { env, cwd, encoding: 'utf8', timeout: 30_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

// The compiled CLI when it is up to date (scripts/test.sh builds first; it starts ~3x faster),
// else the sources through tsx.
function binArgs(): string[] {
  const newest = (dir: string, ext: string): number =>
    Math.max(
      0,
      ...readdirSync(dir, { recursive: true, encoding: 'utf8' })
        .filter(f => f.endsWith(ext))
        .map(f => statSync(path.join(dir, f)).mtimeMs)
    )
  const fresh =
    existsSync(binPath) &&
    newest(path.join(repoRoot, 'dist/conductor'), '.js') >= newest(path.join(repoRoot, 'conductor'), '.ts')
  return fresh
    ? [binPath]
    : [
        '--import',
        pathToFileURL(path.join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href,
        path.join(repoRoot, 'conductor/bin.ts')
      ]
}
