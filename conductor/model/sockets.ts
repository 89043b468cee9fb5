import path from 'node:path'

// Pod sockets (README "Pod sockets"): a pod part declares named listening sockets that systemd
// holds for the whole service (`conductor-socket@SERVICE.NAME.socket`) and passes to each of
// its deployments (LISTEN_FDS), so a deploy hands the same socket from the old pod to the new
// one and no connection is refused in between. Pure: parsing and checks, no I/O.

/** Where a unix socket of SERVICE must live (under the Conductor root). */
export const socketDir = (service: string): string => `/run/conductor/sockets/${service}/`

/** Socket names become CONDUCTOR_SOCKET_<NAME> and systemd's LISTEN_FDNAMES entries. */
export const SOCKET_NAME_PATTERN = /^[a-z][a-z0-9_]*$/

/** sun_path holds 108 bytes, the last one a NUL. */
export const UNIX_PATH_MAX = 107

export type Listen = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number }

export interface PodSocket {
  name: string
  listen: string
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

/** `unix:/ABSOLUTE/PATH` or `IPV4:PORT` / `[IPV6]:PORT`; a string is the reason it is neither. */
export function parseListen(listen: string): Listen | string {
  if (listen.startsWith('unix:')) {
    const p = listen.slice('unix:'.length)
    if (!p.startsWith('/')) return `"${listen}": a unix socket needs an absolute path (unix:/run/conductor/...)`
    if (path.posix.normalize(p) !== p || p.endsWith('/')) {
      return `"${listen}": the path must be normal (no "..", "//", "." or trailing "/")`
    }
    return { kind: 'unix', path: p }
  }
  const m = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(listen)
  const why = `"${listen}" is neither "unix:/PATH" nor "IP:PORT" (e.g. "127.0.0.1:8080")`
  if (m === null) return why
  const host = m[1]!
  const port = Number(m[2])
  if (!(host.startsWith('[') || IPV4.test(host))) return `${why}: the host must be an IP address, not a name`
  if (port < 1 || port > 65_535) return `"${listen}": port ${port} is outside 1-65535`
  return { kind: 'tcp', host, port }
}

/** The path or address systemd listens on: a unix path is under the Conductor root. */
export function listenAddress(root: string, l: Listen): string {
  return l.kind === 'unix' ? path.join(root, l.path) : `${l.host}:${l.port}`
}

/** How Caddy dials it (`reverse_proxy` upstream `dial`). */
export function dialAddress(root: string, l: Listen): string {
  return l.kind === 'unix' ? `unix/${listenAddress(root, l)}` : listenAddress(root, l)
}

/** The key two sockets conflict on: the same path, or the same port on the same or a wildcard host. */
function tcpClash(a: Listen, b: Listen): boolean {
  if (a.kind !== 'tcp' || b.kind !== 'tcp' || a.port !== b.port) return false
  const wild = (h: string): boolean => h === '0.0.0.0' || h === '[::]'
  return a.host === b.host || wild(a.host) || wild(b.host)
}

export function sameListen(a: Listen, b: Listen): boolean {
  return a.kind === 'unix' ? b.kind === 'unix' && a.path === b.path : tcpClash(a, b)
}

export interface SocketProblem {
  jsonPath: string
  message: string
}

/**
 * What is wrong with the sockets of one service's parts: a listen that does not parse, a unix
 * path outside the service's socket directory or too long, a name or address used twice.
 * Names are unique in the whole service (each becomes one socket unit and one variable).
 */
export function socketProblems(
  service: string,
  pods: ReadonlyArray<{ sockets?: readonly PodSocket[] | undefined }>,
  root = '/'
): SocketProblem[] {
  const problems: SocketProblem[] = []
  const seen: Array<{ name: string; listen: Listen | undefined; at: string }> = []
  pods.forEach((pod, i) => {
    ;(pod.sockets ?? []).forEach((s, j) => {
      const at = `/pods/${i}/sockets/${j}`
      const twin = seen.find(o => o.name === s.name)
      if (twin !== undefined) {
        problems.push({
          jsonPath: `${at}/name`,
          message: `"${s.name}" is already the name of ${twin.at}: socket names are unique in a service; rename one`
        })
      }
      const l = parseListen(s.listen)
      if (typeof l === 'string') {
        problems.push({ jsonPath: `${at}/listen`, message: l })
        seen.push({ name: s.name, listen: undefined, at })
        return
      }
      if (l.kind === 'unix') {
        const dir = socketDir(service)
        if (!l.path.startsWith(dir) || l.path.length === dir.length || l.path.slice(dir.length).includes('/')) {
          problems.push({
            jsonPath: `${at}/listen`,
            message: `"${s.listen}" is outside ${dir}: a unix socket of service "${service}" goes directly in that directory (e.g. "unix:${dir}${s.name}.sock")`
          })
        } else if (path.join(root, l.path).length > UNIX_PATH_MAX) {
          problems.push({
            jsonPath: `${at}/listen`,
            message: `"${path.join(root, l.path)}" is longer than ${UNIX_PATH_MAX} bytes (a unix socket path's limit); use a shorter name`
          })
        }
      }
      const clash = seen.find(o => o.listen !== undefined && sameListen(o.listen, l))
      if (clash !== undefined) {
        problems.push({ jsonPath: `${at}/listen`, message: `"${s.listen}" is already the address of ${clash.at}` })
      }
      seen.push({ name: s.name, listen: l, at })
    })
  })
  return problems
}

export interface ServiceSockets {
  service: string
  file: string
  sockets: Array<{ listen: Listen; text: string; at: string }>
}

/** Sockets of the service at `index` whose TCP address another service (listed before it) uses. */
export function clashesWithOthers(
  all: readonly ServiceSockets[],
  index: number
): Array<{ at: string; message: string }> {
  const out: Array<{ at: string; message: string }> = []
  const mine = all[index]!
  for (const s of mine.sockets) {
    for (const other of all.slice(0, index)) {
      const hit = other.sockets.find(o => sameListen(o.listen, s.listen))
      if (hit === undefined) continue
      out.push({
        at: `${s.at}/listen`,
        message: `"${s.text}" is already used by service "${other.service}" (${other.file}: ${hit.at}/listen); choose another port`
      })
      break
    }
  }
  return out
}

/** Every socket of a service with its parsed address (a service whose sockets all parse). */
export function serviceSockets(
  service: string,
  file: string,
  pods: ReadonlyArray<{ sockets?: readonly PodSocket[] | undefined }>
): ServiceSockets {
  const sockets = pods.flatMap((p, i) =>
    (p.sockets ?? []).flatMap((s, j) => {
      const listen = parseListen(s.listen)
      return typeof listen === 'string' ? [] : [{ listen, text: s.listen, at: `/pods/${i}/sockets/${j}` }]
    })
  )
  return { service, file, sockets }
}

/** CONDUCTOR_SOCKET_<NAME> (the path or IP:PORT) and CONDUCTOR_SOCKET_<NAME>_DIAL (Caddy's dial). */
export function socketVariables(
  root: string,
  pods: ReadonlyArray<{ sockets?: readonly PodSocket[] | undefined }>
): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const s of pods.flatMap(p => p.sockets ?? [])) {
    const l = parseListen(s.listen)
    if (typeof l === 'string') continue
    const key = `CONDUCTOR_SOCKET_${s.name.toUpperCase()}`
    vars[key] = listenAddress(root, l)
    vars[`${key}_DIAL`] = dialAddress(root, l)
  }
  return vars
}

/**
 * The socket unit holding one socket: `conductor-socket@SERVICE.NAME.socket`. A socket name has
 * no ".", so the last one separates it from the service (":" would read better, but
 * `systemd-analyze verify` cannot load such a unit).
 */
export const socketUnit = (service: string, name: string): string => `conductor-socket@${service}.${name}.socket`

/** The service a socket unit file belongs to, or undefined when the file is not one. */
export function socketUnitService(file: string): string | undefined {
  return /^conductor-socket@(.+)\.[a-z][a-z0-9_]*\.socket$/.exec(file)?.[1]
}
