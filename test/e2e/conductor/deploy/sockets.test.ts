import t from 'tap'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { startCaddy } from '../../../harness/caddy.js'
import { cli, cliProcess, repoRoot } from '../../../harness/cli.js'
import { waitFor } from '../../../harness/ports.js'
import { containersConf, podsNamed, removePods, standInCaddyUnit, startUserManager } from '../../../harness/systemd.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// Pod sockets (README "Pod sockets") on a real systemd user manager, Podman and Caddy. The pod
// runs sockserve (test/fixtures/sockets/sockserve.c, built static here and mounted into the
// busybox image): it never binds, it only accepts on the sockets systemd passes, and refuses to
// start when one is not a listening socket.

const fixtures = path.join(repoRoot, 'test/fixtures/sockets')
const podmanEnv = { ...process.env, CONTAINERS_CONF: containersConf }

function buildSockserve(t: Parameters<typeof tempDir>[0]): string {
  const out = path.join(tempDir(t, 'conductor-sockserve-'), 'sockserve')
  execFileSync('cc', ['-static', '-O2', '-o', out, path.join(fixtures, 'sockserve.c')])
  return out
}

t.test(
  'Podman 4.3: `kube play` does not pass a socket to the application container (why pods start in two steps)',
  async t => {
    const version = execFileSync('podman', ['--version'], { encoding: 'utf8' })
    const dir = tempDir(t, 'conductor-kubeplay-')
    const sockserve = buildSockserve(t)
    const pod = `sockproof${Math.random().toString(36).slice(2, 7)}`
    t.teardown(() => removePods(pod))
    writeTree(dir, {
      'pod.yaml': execFileSync(path.join(fixtures, 'pod.template'), {
        env: { PATH: process.env.PATH, POD_NAME: pod, VERSION: 'proof', SOCKSERVE: sockserve },
        encoding: 'utf8'
      })
    })
    // What systemd does for a socket unit, with the listening socket a unix one in our directory.
    const sock = path.join(dir, 'proof.sock')
    const activate = spawn(
      'systemd-socket-activate',
      [
        '-E',
        'CONTAINERS_CONF',
        '-E',
        'PATH',
        '-E',
        'HOME',
        '-l',
        sock,
        '--fdname=http',
        'podman',
        'kube',
        'play',
        '--replace',
        path.join(dir, 'pod.yaml')
      ],
      { env: podmanEnv, stdio: 'ignore' }
    )
    t.teardown(() => activate.kill('SIGKILL'))
    await waitFor('the socket', async () => existsSync(sock), 10_000, 50)
    // systemd-socket-activate starts its command at the first connection.
    const first = spawnSync('curl', ['-s', '-m', '4', '--unix-socket', sock, 'http://x/'], { encoding: 'utf8' })
    await waitFor(
      'the application container exited',
      async () =>
        podmanText('ps', '-a', '--filter', `name=^${pod}-app$`, '--format', '{{.Status}}').startsWith('Exited'),
      30_000,
      200
    )
    const logs = podmanText('logs', `${pod}-app`)
    t.match(
      logs,
      /LISTEN_FDS=1 LISTEN_FDNAMES=http/,
      `${version.trim()} sets LISTEN_FDS=1 in the application container`
    )
    t.match(
      logs,
      /fd 3 \(http\) is not a listening socket/,
      'but its fd 3 is not the socket: the first container got it'
    )
    t.equal(first.stdout, '', 'and nobody answers on the socket')
  }
)

function podmanText(...args: string[]): string {
  const r = spawnSync('podman', args, { env: podmanEnv, encoding: 'utf8' })
  return (r.stdout ?? '') + (r.stderr ?? '')
}

t.test('a pod part with a unix socket: Caddy dials it, a deploy hands it over without a failed request', async t => {
  const svc = `sock${Math.random().toString(36).slice(2, 7)}`
  const sd = await startUserManager(t)
  t.teardown(() => removePods(svc + '-'))
  const caddy = await startCaddy(t)
  const root = tempDir(t, 'conductor-sockets-')
  const sockserve = buildSockserve(t)
  const listen = `unix:/run/conductor/sockets/${svc}/http.sock`
  writeTree(root, {
    'etc/conductor/host.json': { scope: 'user', caddy_admin: caddy.adminUrl },
    [`etc/conductor/services/${svc}/conductor-service.json`]: {
      config: { VERSION: '1', SOCKSERVE: sockserve },
      pods: [
        {
          name: '',
          pod_template: path.join(fixtures, 'pod.template'),
          sockets: [{ name: 'http', listen }],
          drain_timeout_sec: 10
        }
      ],
      proxy_config_template: path.join(fixtures, 'proxy.template')
    }
  })
  standInCaddyUnit(sd)
  const env = { ...sd.env, CONDUCTOR_ROOT: root, CONDUCTOR_SCOPE: 'user', HOME: root }
  const socketUnit = `conductor-socket@${svc}.http.socket`
  const sockPath = path.join(root, 'run/conductor/sockets', svc, 'http.sock')

  t.equal((await cli(['system', 'install'], env)).code, 0)
  const envOut = await cli(['service', 'env', svc], env)
  t.match(envOut.stdout, `CONDUCTOR_SOCKET_HTTP=${sockPath}`, 'the socket path is a variable')
  t.match(envOut.stdout, `CONDUCTOR_SOCKET_HTTP_DIAL=unix/${sockPath}`, "and Caddy's dial address")
  let r = await cli(['reload'], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.equal(sd.systemctl('is-active', socketUnit).stdout.trim(), 'active', 'the socket unit listens')
  t.ok(statSync(sockPath).isSocket(), `systemd made ${sockPath}`)
  const url = `http://127.0.0.1:${caddy.httpPort}/`
  await waitFor('version 1 through Caddy', async () => (await get(url)).startsWith('version 1 fd=http'), 30_000, 100)
  t.match(await get(url), /^version 1 fd=http LISTEN_FDS=1 LISTEN_FDNAMES=http$/m, 'the pod got the socket by name')

  // Load through Caddy (a fresh connection per request, nothing retried), and two slow requests
  // on version 1 when the deploy starts: the old pod must finish them after its SIGTERM.
  let stop = false
  const answers = { ok: 0, failed: [] as string[], versions: new Set<string>() }
  const loop = async (): Promise<void> => {
    while (!stop) {
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(15_000), headers: { connection: 'close' } })
        const text = await res.text()
        if (res.status === 200) {
          answers.ok++
          answers.versions.add(text.split(' fd=')[0]!)
        } else answers.failed.push(`${res.status} ${text.slice(0, 80)}`)
      } catch (err) {
        answers.failed.push(`${String(err)} ${String((err as Error).cause ?? '')}`)
      }
    }
  }
  const loops = [loop(), loop(), loop()]
  const slow = [0, 1].map(async () => {
    const res = await fetch(`${url}slow`, { headers: { connection: 'close' } })
    return `${res.status} ${(await res.text()).split(' fd=')[0]}`
  })
  await new Promise(resolve => setTimeout(resolve, 300))
  const deploy = await cliProcess(['deploy', svc, '--set', 'VERSION=2'], env)
  t.equal(deploy.code, 0, deploy.stdout + deploy.stderr)
  t.match(deploy.stderr, /✓ drain old deployment \(\d+ ms\) — no request in flight/, 'the shared socket is not drained')
  await waitFor('only version 2 answers', async () => (await get(url)).startsWith('version 2'), 30_000, 100)
  await waitFor('the old pod is gone', async () => podsNamed(svc + '-').length === 1, 60_000, 200)
  stop = true
  await Promise.all(loops)
  t.same(await Promise.all(slow), ['200 version 1', '200 version 1'], 'slow requests on the old pod finished')
  t.same(answers.failed, [], `no failed request during the deploy (${answers.ok} answered)`)
  t.same([...answers.versions].sort(), ['version 1', 'version 2'], 'the load saw the old version, then the new one')
  t.ok(answers.ok > 20, `load was sent throughout (${answers.ok})`)
  t.equal(sd.systemctl('is-active', socketUnit).stdout.trim(), 'active', 'the socket stayed open through the deploy')
  const ids = readdirSync(path.join(root, 'var/lib/conductor/deployments'))
  t.equal(ids.length, 1)
  const dropIn = readFileSync(
    path.join(sd.unitsDir, `conductor-deployment@${ids[0]!}.service.d`, '50-conductor.conf'),
    'utf8'
  )
  t.match(dropIn, `Sockets=${socketUnit}`, 'the deployment receives the socket unit')

  // A crash: systemd restarts the deployment, which gets the socket again; connections wait.
  execFileSync('podman', ['kill', `${ids[0]!}-app`], { env: podmanEnv })
  t.match(await get(url, 30_000), /^version 2 fd=http/, 'answered again after systemd restarted the pod')
  const restarts = sd.systemctl('show', '-p', 'NRestarts', `conductor-deployment@${ids[0]!}.service`).stdout.trim()
  t.match(restarts, /^NRestarts=[1-9]/, 'systemd restarted the deployment (Restart=on-failure), not Podman')

  r = await cli(['reload'], env)
  t.match(r.stdout, /nothing to do/, 'a reload after the deploy has nothing to do')
  r = await cli(['service', 'stop', svc], env)
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.equal(sd.systemctl('is-active', socketUnit).stdout.trim(), 'inactive', 'the socket stops with its service')
  t.notOk(existsSync(sockPath), 'and its file is removed')
})

async function get(url: string, timeoutMs = 10_000): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { connection: 'close' } })
    return await res.text()
  } catch (err) {
    return String(err)
  }
}
