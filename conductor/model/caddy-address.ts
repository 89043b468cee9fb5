// Caddy listen address syntax as host.json's caddy_listen accepts it (and the port of one), apart
// from the host.json schema so that light modules (caddy.json rendering) can use it without zod.

/** Caddy listen address syntax accepted in host.json: [tcp|tcp4|tcp6/]HOST:PORT, :PORT, [V6]:PORT, unix//PATH. */
export function isCaddyListenAddress(s: string): boolean {
  if (/^unix\/\/\S+$/.test(s)) return true
  const port = listenPort(s)
  return port !== undefined && port >= 1 && port <= 65535
}

/** The TCP port of a listen address, undefined for a unix socket or anything unparsable. */
export function listenPort(address: string): number | undefined {
  const m = /^(?:tcp[46]?\/)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/.exec(address)
  return m === null ? undefined : Number(m[1])
}
