import { isDeepStrictEqual } from 'node:util'
// Only the constant (as commands/function.ts takes gateway/defaults.js): host-schema.ts imports
// this module, and caddy/index.ts would load the admin client on every host.json read.
import { CONDUCTOR_SERVER_ID } from '../../caddy/index.js'
import { listenPort } from '../model/index.js'

// The caddy.json `conductor system install` writes next to its default caddy.service: the admin
// API and the HTTP server every route is registered into (`"@id": "conductor-server"`, listening
// on host.json caddy_listen). Pure: text in, text out.

export interface CaddyConfigOptions {
  /** Caddy's admin listen address (`admin.listen`). */
  caddyAdmin: string
  /** The server's listen addresses (host.json caddy_listen). */
  caddyListen: readonly string[]
}

/** Caddy's HTTPS port: automatic HTTPS is left on only for a server that listens on it. */
const HTTPS_PORT = 443

/** The key of the server under apps.http.servers (register_only snippets may address it by path). */
export const CONDUCTOR_SERVER_KEY = 'conductor'

export function renderCaddyConfig(o: CaddyConfigOptions): string {
  return (
    JSON.stringify(
      {
        admin: { listen: o.caddyAdmin },
        apps: { http: { servers: { [CONDUCTOR_SERVER_KEY]: conductorServer(o.caddyListen) } } }
      },
      null,
      2
    ) + '\n'
  )
}

/**
 * The server object. `routes: []` matters: routes are POSTed to `conductor-server/routes`, which
 * appends to an existing list but would set a missing key to the one route object. Automatic
 * HTTPS (certificates for the hosts that routes match, HTTP->HTTPS redirects) stays Caddy's
 * default only where the server listens on port 443; elsewhere (a loopback test port, a plain
 * HTTP port behind a load balancer) it is off, so a route with a host matcher never turns a
 * plain HTTP port into TLS, nor asks a CA for a certificate.
 */
export function conductorServer(listen: readonly string[]): Record<string, unknown> {
  const https = listen.some(a => listenPort(a) === HTTPS_PORT)
  return {
    '@id': CONDUCTOR_SERVER_ID,
    listen: [...listen],
    routes: [],
    ...(https ? {} : { automatic_https: { disable: true } })
  }
}

/**
 * Whether caddy.json is one `conductor system install` wrote, so a new install may rewrite it:
 * this rendering with some admin and listen addresses, or the admin-only file of versions before
 * the server was declared. Anything else is the operator's and is kept.
 */
export function isConductorCaddyConfig(text: string): boolean {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return false
  }
  const admin = (parsed as { admin?: { listen?: unknown } } | null)?.admin?.listen
  if (typeof admin !== 'string') return false
  if (isDeepStrictEqual(parsed, { admin: { listen: admin } })) return true
  const servers = (parsed as { apps?: { http?: { servers?: Record<string, { listen?: unknown }> } } }).apps?.http
    ?.servers
  const listen = servers?.[CONDUCTOR_SERVER_KEY]?.listen
  if (!Array.isArray(listen) || !listen.every(a => typeof a === 'string')) return false
  return isDeepStrictEqual(parsed, JSON.parse(renderCaddyConfig({ caddyAdmin: admin, caddyListen: listen })))
}
