import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { CaddyClient, CONDUCTOR_SERVER_ID } from '../../caddy/index.js'
import { runBounded } from '../process/index.js'
import type { Check } from './checks.js'

// `conductor doctor`: is Caddy's admin API reachable where this host says, and which Caddy is it.
//
// The version: Caddy's admin API has no version endpoint, and neither its admin answers nor its
// HTTP servers send a version (`Server: Caddy` at most). `caddy version` from PATH may name
// another binary than the one running (a second install, or a package upgraded under a running
// process). So the doctor finds the process that owns the admin listening socket (/proc/net/tcp
// or /proc/net/unix -> socket inode -> /proc/PID/fd) and runs `/proc/PID/exe version`: the very
// binary that answers, even when the file on disk was replaced since. Only when that process
// cannot be found (another user's process without privileges, another network namespace) does
// it fall back to `caddy version` from PATH, and says so.

export interface CaddyCheckOptions {
  adminUrl: string
  /** Where the endpoint came from (flag, env, host.json, default), shown in the line. */
  source: string
  env: Record<string, string>
  /** What the check expects of the HTTP server "conductor-server" and the fixes it prints. */
  server: ServerExpectation
}

export interface ServerExpectation {
  /**
   * The listen addresses the server must have: host.json caddy_listen (or its default) when
   * Conductor writes caddy.json; undefined when Caddy's config is the operator's.
   */
  listen?: readonly string[] | undefined
  /** Printed when the running Caddy has no such server. */
  missingFix: string
  /** Printed when it listens elsewhere than `listen`. */
  listenFix: string
}

export function caddyCheck(o: CaddyCheckOptions): Check {
  return async function caddy() {
    const name = 'caddy'
    let client: CaddyClient
    try {
      client = new CaddyClient({ adminUrl: o.adminUrl, timeoutMs: 3000 })
    } catch (err) {
      return {
        name,
        ok: false,
        detail: `admin endpoint ${o.adminUrl} (from ${o.source}) is not valid: ${(err as Error).message}`,
        fix: 'set caddy_admin in host.json (or --caddy-admin, CONDUCTOR_CADDY_ADMIN) to http://HOST:PORT or unix//PATH'
      }
    }
    try {
      const res = await client.request('GET', '/config/')
      if (res.status !== 200) {
        return {
          name,
          ok: false,
          detail: `${client.adminUrl} (from ${o.source}): GET /config/ -> ${res.status} ${res.body.trim().slice(0, 200)}`,
          fix: 'is this Caddy\'s admin API? Caddy refuses admin requests whose Host or Origin is not its admin listen address: use the same address in caddy_admin as in Caddy\'s "admin.listen"'
        }
      }
    } catch (err) {
      return {
        name,
        ok: false,
        detail: `${client.adminUrl} (from ${o.source}) not reachable: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`,
        fix: 'start Caddy (systemctl start caddy.service; add --user in the user scope), or point Conductor at its admin API: caddy_admin in host.json, --caddy-admin, CONDUCTOR_CADDY_ADMIN'
      }
    }
    const version = await runningCaddyVersion(o.adminUrl, o.env)
    const head = `admin API ${client.adminUrl} (from ${o.source}) answers; ${version}`
    const server = await serverState(client, o.server)
    return { name, ...server, detail: `${head}; ${server.detail}` }
  }
}

/**
 * The HTTP server every route goes into (proxy snippets, `caddy protect`, function and command
 * routes: `conductor-server/routes`). Without it each registration fails; with other listen
 * addresses than host.json asks for, the routes answer elsewhere than expected.
 */
async function serverState(
  client: CaddyClient,
  want: ServerExpectation
): Promise<{ ok: boolean; detail: string; fix?: string }> {
  const res = await client.request('GET', `/id/${CONDUCTOR_SERVER_ID}`)
  if (res.status !== 200) {
    const why =
      res.status === 404 ? '' : ` (GET /id/${CONDUCTOR_SERVER_ID} -> ${res.status} ${res.body.trim().slice(0, 200)})`
    return {
      ok: false,
      detail:
        `no HTTP server with "@id": "${CONDUCTOR_SERVER_ID}"${why}: ` +
        'the routes of services, functions and caddy protect have nowhere to go',
      fix: want.missingFix
    }
  }
  let listen: string[] = []
  try {
    const parsed = (JSON.parse(res.body) as { listen?: unknown }).listen
    if (Array.isArray(parsed)) listen = parsed.map(String)
  } catch {
    /* shown as listening nowhere */
  }
  const shown = (l: readonly string[]): string => (l.length === 0 ? 'nothing' : l.join(', '))
  const detail = `HTTP server "${CONDUCTOR_SERVER_ID}" listens on ${shown(listen)}`
  if (want.listen !== undefined && !sameSet(listen, want.listen)) {
    const asked = `host.json caddy_listen asks for ${shown(want.listen)}`
    return { ok: false, detail: `${detail}, ${asked}`, fix: want.listenFix }
  }
  return { ok: true, detail }
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every(x => b.includes(x))

/** "Caddy 2.6.2 (pid 123, /usr/bin/caddy)" or the PATH fallback, with why. */
export async function runningCaddyVersion(adminUrl: string, env: Record<string, string>): Promise<string> {
  const pid = adminListenerPid(adminUrl)
  if (pid !== undefined) {
    let exe = '?'
    try {
      exe = readlinkSync(`/proc/${pid}/exe`)
    } catch {
      /* not ours to read */
    }
    // Only run it if it is a Caddy binary: never execute whatever else holds the port.
    if (/caddy/i.test(path.basename(exe.replace(/ \(deleted\)$/, '')))) {
      const v = await version(`/proc/${pid}/exe`, env)
      if (v !== undefined) return `Caddy ${v} (pid ${pid}, ${exe})`
    } else if (exe !== '?') {
      return `version unknown: the admin port is held by pid ${pid} (${exe}), not a caddy binary`
    }
  }
  const v = await version('caddy', env)
  return v === undefined
    ? 'version unknown (listening process not found, no caddy in PATH)'
    : `caddy in PATH is ${v} (the listening process was not found, so the running one may differ)`
}

async function version(file: string, env: Record<string, string>): Promise<string | undefined> {
  const r = await runBounded({
    file,
    args: ['version'],
    cwd: os.tmpdir(),
    env,
    timeoutMs: 5000,
    maxOutputBytes: 4096,
    stderrTailBytes: 1024
  })
  // `caddy version` prints "v2.7.6 h1:..." (upstream builds) or "2.6.2" (Debian's).
  return r.exitCode === 0 ? r.stdout.trim().split(/\s+/)[0]?.replace(/^v/, '') : undefined
}

/** The pid of the process listening on the admin endpoint (TCP port or unix socket), from /proc. */
export function adminListenerPid(adminUrl: string): number | undefined {
  const inodes = listeningInodes(adminUrl)
  if (inodes.size === 0) return undefined
  const wanted = new Set([...inodes].map(i => `socket:[${i}]`))
  for (const entry of safeReaddir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    for (const fd of safeReaddir(`/proc/${entry}/fd`)) {
      try {
        if (wanted.has(readlinkSync(`/proc/${entry}/fd/${fd}`))) return Number(entry)
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return undefined
}

function listeningInodes(adminUrl: string): Set<string> {
  const out = new Set<string>()
  const socket = /^unix:?\/\/?(\/.*)$/.exec(adminUrl)?.[1]
  if (socket !== undefined) {
    // /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path
    for (const line of readLines('/proc/net/unix').slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f[7] === socket && f[6] !== undefined) out.add(f[6])
    }
    return out
  }
  let port: number
  try {
    const u = new URL(/^[a-z]+:\/\//i.test(adminUrl) ? adminUrl : `http://${adminUrl}`)
    port = Number(u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : u.port)
  } catch {
    return out
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    // sl local_address rem_address st ... inode; st 0A = LISTEN
    for (const line of readLines(file).slice(1)) {
      const f = line.trim().split(/\s+/)
      if (f[3] === '0A' && f[1]?.endsWith(`:${hexPort}`) && f[9] !== undefined) out.add(f[9])
    }
  }
  return out
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean)
  } catch {
    return []
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}
