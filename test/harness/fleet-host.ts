import { copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { ChildProcess } from 'node:child_process'
import type { ExecResult, TestHost } from './netns.js'
import { waitFor } from './ports.js'
import { startUserManager, type UserManager, type UserManagerOptions } from './systemd.js'

// What a test host runs besides its network (test/harness/netns.ts): its own Podman image, its
// own systemd user manager, its own Caddy. Every one of them lives inside the host's namespace
// and under the host's directory, with the host's env, so nothing is shared between hosts but
// the kernel and the machine's files.

type Teardown = { teardown: (fn: () => Promise<void> | void) => void }

// The applets of scripts/setup-host.sh's localhost/busybox:latest (nothing can be pulled here).
const APPLETS = [
  'sh',
  'httpd',
  'echo',
  'cat',
  'env',
  'sleep',
  'ls',
  'mkdir',
  'printf',
  'wget',
  'nc',
  'true',
  'false',
  'kill',
  'ps'
]
const imported = new Map<string, Promise<void>>()

/**
 * Imports localhost/busybox:latest into the host's own Podman storage (once per host), built as
 * scripts/setup-host.sh builds the machine's: the host's `podman` sees only its own images.
 */
export async function importBusybox(host: TestHost): Promise<void> {
  let done = imported.get(host.dir)
  if (done === undefined) {
    done = (async () => {
      const rootfs = path.join(host.dir, 'busybox-rootfs')
      for (const d of ['bin', 'tmp', 'www']) mkdirSync(path.join(rootfs, d), { recursive: true })
      if (!existsSync(path.join(rootfs, 'bin/busybox'))) {
        copyFileSync('/bin/busybox', path.join(rootfs, 'bin/busybox'))
        for (const a of APPLETS) symlinkSync('busybox', path.join(rootfs, 'bin', a))
      }
      const script = 'tar -C "$1" -c . | podman import --change ENV=PATH=/bin - localhost/busybox:latest'
      const r = await host.exec('sh', ['-c', script, 'import', rootfs])
      if (r.code !== 0) throw new Error(`busybox import on ${host.name}: ${r.stderr}`)
    })()
    imported.set(host.dir, done)
    done.catch(() => imported.delete(host.dir))
  }
  await done
}

/** `podman ARGS` on the host (its storage, its namespace). */
export async function podman(host: TestHost, ...args: string[]): Promise<ExecResult> {
  return await host.exec('podman', args)
}

/** Pod names on the host, as its own Podman lists them. */
export async function hostPods(host: TestHost): Promise<string[]> {
  const r = await podman(host, 'pod', 'ps', '--format', '{{.Name}}')
  if (r.code !== 0) throw new Error(`podman pod ps on ${host.name}: ${r.stderr}`)
  return r.stdout.split('\n').filter(n => n !== '')
}

/**
 * The host's systemd user manager (test/harness/systemd.ts), started inside its namespace with
 * the host's env (its units inherit CONDUCTOR_ROOT, the XDG dirs and the Podman storage). Its
 * cgroup is named after the namespace and recorded in the host's directory, so a reaper or sweep
 * can remove it after a killed run.
 */
export async function startHostUserManager(
  t: Teardown,
  host: TestHost,
  o: Pick<UserManagerOptions, 'startTimeoutMs' | 'degradedOk'> = {}
): Promise<UserManager> {
  const marker = path.join(host.dir, 'user-manager.cgroup')
  writeFileSync(marker, host.netns)
  const sd = await startUserManager(t, { netns: host.netnsPath, env: host.env, cgroup: host.netns, ...o })
  // Stopped cleanly (its cgroup removed): the fleet's cleanup need not look for it again.
  const stop = async (): Promise<void> => {
    await sd.stop()
    rmSync(marker, { force: true })
  }
  t.teardown(stop)
  return { ...sd, stop }
}

export interface HostCaddy {
  /** https://IP (port 443 on eth0) */
  url: string
  /** Caddy's local CA root for `tls internal` ($XDG_DATA_HOME/caddy/pki/authorities/local/root.crt): --ca-file. */
  caFile: string
  /** The admin API as seen inside the host (what Conductor's host.json says there). */
  adminInside: string
  /** The same admin API from the test process (a forwarded loopback port). */
  adminUrl: string
  process: ChildProcess
  log: () => string
  stop: () => Promise<void>
}

export interface HostCaddyOptions {
  /** Routes of the HTTPS server "conductor" (@id conductor-server); default: one answering "NAME\n". */
  routes?: object[]
}

/**
 * `caddy run` inside the host: an HTTPS server on IP:443 with a `tls internal` certificate for the
 * IP literal (peers are named by IP: /etc/hosts is shared), admin API on the namespace's own
 * 127.0.0.1:2019. Storage is Caddy's default, $XDG_DATA_HOME/caddy of the host: each host has
 * its own local CA, as separate machines would. The CA is never installed into any trust store.
 */
export async function startHostCaddy(t: Teardown, host: TestHost, o: HostCaddyOptions = {}): Promise<HostCaddy> {
  const adminInside = 'http://127.0.0.1:2019'
  // The relay can exist before Caddy listens. Caddy's admin API refuses a Host it does not know
  // (DNS-rebinding protection): the forwarded address is allowed besides its own.
  const adminPort = await host.forward(2019)
  const config = {
    admin: { listen: '127.0.0.1:2019', origins: ['127.0.0.1:2019', 'localhost:2019', `127.0.0.1:${adminPort}`] },
    logging: { logs: { default: { level: 'WARN' } } },
    apps: {
      http: {
        servers: {
          conductor: {
            '@id': 'conductor-server',
            listen: [`${host.ip}:443`],
            routes: o.routes ?? [{ handle: [{ handler: 'static_response', body: `${host.name}\n` }] }],
            tls_connection_policies: [{}],
            automatic_https: { disable_redirects: true }
          }
        }
      },
      tls: {
        certificates: { automate: [host.ip] },
        automation: { policies: [{ subjects: [host.ip], issuers: [{ module: 'internal' }] }] }
      },
      pki: { certificate_authorities: { local: { install_trust: false } } }
    }
  }
  const dir = path.join(host.dir, 'caddy')
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, 'caddy.json')
  writeFileSync(file, JSON.stringify(config))
  let log = ''
  const proc = host.spawn('caddy', ['run', '--config', file])
  proc.stdout?.on('data', (d: Buffer) => {
    log += d.toString()
  })
  proc.stderr?.on('data', (d: Buffer) => {
    log += d.toString()
  })
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return
    const exited = new Promise<void>(resolve => proc.once('exit', () => resolve()))
    proc.kill('SIGTERM')
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(timer)
  }
  t.teardown(stop)
  const url = `https://${host.ip}`
  const caFile = path.join(host.env.XDG_DATA_HOME!, 'caddy/pki/authorities/local/root.crt')
  const adminUrl = `http://127.0.0.1:${adminPort}`
  try {
    // Each try bounded: with three Caddies starting at once, a request sent while one was
    // starting once stayed unanswered for good.
    await waitFor(
      `caddy admin API of ${host.name}`,
      async () => (await fetch(`${adminUrl}/config/`, { signal: AbortSignal.timeout(1000) })).ok,
      60_000
    )
    await waitFor(`Caddy local CA of ${host.name} (${caFile})`, () => existsSync(caFile), 60_000)
    // The certificate is issued asynchronously: wait until a verified handshake succeeds. Caddy
    // 2.6 sometimes races itself on a new storage (it deletes the key file another of its
    // goroutines is writing: "Deleting certificates/local/IP because key is empty", then "will
    // retry" in 60 s): the same config loaded again (forced) obtains it at once.
    let reloaded = false
    await waitFor(
      `${host.name} serving ${url} with its local CA`,
      async () => {
        if (!reloaded && /"logger":"tls\.obtain","msg":"will retry"/.test(log)) {
          reloaded = true
          await fetch(`${adminUrl}/load`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'cache-control': 'must-revalidate' },
            body: JSON.stringify(config),
            signal: AbortSignal.timeout(5000)
          })
        }
        return (await host.request(`${url}/`, { caFile, timeoutMs: 2000 })).status > 0
      },
      60_000,
      100
    )
  } catch (err) {
    throw new Error(`${(err as Error).message}; caddy log: ${log}`)
  }
  return { url, caFile, adminInside, adminUrl, process: proc, log: () => log, stop }
}
