import { ListenNotAllowed } from './errors.js'

// Parses --listen: HOST:PORT on loopback, or unix:/path. The gateway is only ever reached
// through Caddy, so binding anything else would expose /auth and functions without Caddy's
// header stripping.

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string }

export function parseListen(value: string): ListenAddress {
  if (value.startsWith('unix:')) {
    const path = value.slice(5)
    if (!path.startsWith('/')) throw new ListenNotAllowed(`--listen ${value}: a unix socket path must be absolute`)
    return { kind: 'unix', path }
  }
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value)
  if (m === null) throw new ListenNotAllowed(`--listen ${value}: expected HOST:PORT (loopback) or unix:/path`)
  const host = m[1] ?? m[2]!
  const port = Number(m[3])
  if (port > 65535) throw new ListenNotAllowed(`--listen ${value}: port out of range`)
  if (!isLoopback(host))
    throw new ListenNotAllowed(
      `--listen ${value}: the gateway listens on loopback only (127.0.0.0/8, ::1, localhost) or a unix socket`
    )
  return { kind: 'tcp', host, port }
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/**
 * The listening socket systemd passes (socket activation, sd_listen_fds(3)): fd 3 when
 * LISTEN_PID is this process and LISTEN_FDS >= 1. The variables are removed, as
 * sd_listen_fds(unset_environment=1) does, so processes the gateway starts (functions, hooks)
 * never believe the socket is theirs.
 */
export function takeInheritedListenFd(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number | undefined {
  const mine = env.LISTEN_PID === String(pid) && Number(env.LISTEN_FDS ?? '0') >= 1
  delete env.LISTEN_PID
  delete env.LISTEN_FDS
  delete env.LISTEN_FDNAMES
  return mine ? SD_LISTEN_FDS_START : undefined
}

const SD_LISTEN_FDS_START = 3

/** Parses every address before anything starts: a bad one is refused with nothing listening. */
export function parseServeAddresses(o: {
  listen: string
  metricsListen?: string | undefined
  functionsListen?: string | undefined
}): {
  listen: ListenAddress
  metrics?: ListenAddress | undefined
  functions?: ListenAddress | undefined
} {
  return {
    listen: parseListen(o.listen),
    metrics: o.metricsListen === undefined ? undefined : parseListen(o.metricsListen),
    functions: o.functionsListen === undefined ? undefined : parseListen(o.functionsListen)
  }
}
