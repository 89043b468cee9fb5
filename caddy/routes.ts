import { AUTH_PATH, IDENTITY_HEADERS, MAX_AUTHORIZATION_CHARS } from './defaults.js'
import { RouteInvalid } from './errors.js'

// The route of a policy-protected endpoint (ARCHITECTURE.md "Caddy contract"), as the JSON
// `caddy adapt` produces for `forward_auth` in Caddy 2.6.2, with two fixes:
//  - client-sent X-Conductor-* headers (and their _ spellings) are deleted first, so neither the gateway nor the
//    upstream ever sees a forged identity;
//  - 2.6.2 copies an identity header the gateway did not send as the literal placeholder text
//    ("{http.reverse_proxy.header.X}"), so such values are deleted right after the copy.
// Non-2xx answers of the gateway (401 with WWW-Authenticate, 403) are not handled, which makes
// reverse_proxy pass them to the client as they are; a gateway that is down gives a 502:
// both deny. Pure: returns JSON, talks to nobody. The one builder of such routes: `caddy
// protect`, function routes and remote command routes all use it (publicRoute: the same route
// without the question to the gateway, for public functions).

/**
 * Client headers deleted before anything else. Caddy matches these prefixes against Go's
 * canonical header names, where "x_conductor_subject" becomes "X_conductor_subject" and
 * "X-CONDUCTOR_A" becomes "X-Conductor_a": those spellings would become the same
 * HTTP_X_CONDUCTOR_SUBJECT variable in a CGI environment, so they are forged identities too.
 */
export const STRIPPED_HEADERS = ['X-Conductor-*', 'X-Conductor_*', 'X_conductor*'] as const

export type Upstream =
  /** flushInterval: Caddy's flush_interval (-1: write each chunk as it comes, for streamed output). */
  | { dial: string | string[]; flushInterval?: number | undefined }
  | { static: { status?: number; body?: string; headers?: Record<string, string[]> } }

export interface ProtectedRouteOptions {
  /** The route's @id (how it is replaced and removed). */
  id: string
  /** Policy name the gateway checks (`/auth?policy=NAME`). */
  policy: string
  /** Authorization the matched policy entry must grant (`&authorization=A`). */
  authorization?: string | undefined
  /** Gateway dial address: HOST:PORT, or unix//PATH. */
  gateway: string
  /** Request matchers; a route without any matches every request. */
  host?: string[] | undefined
  path?: string[] | undefined
  upstream: Upstream
  /**
   * Identity headers copied from the gateway's 2xx answer (default IDENTITY_HEADERS; [] when the
   * upstream is the gateway, which sets them itself).
   */
  copyHeaders?: readonly string[] | undefined
  /** URI the request is rewritten to once allowed, before the upstream (Caddy placeholders allowed). */
  rewrite?: string | undefined
}

/** A route without a policy: no question to the gateway. */
export type PublicRouteOptions = Omit<ProtectedRouteOptions, 'policy' | 'authorization' | 'gateway' | 'copyHeaders'>

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json }
export type CaddyRoute = { [k: string]: Json }

export function protectedRoute(opts: ProtectedRouteOptions): CaddyRoute {
  check(
    /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(opts.policy),
    'policy',
    `"${opts.policy}" is not a policy name (letters, digits, _ . -)`
  )
  // Any name a service file may give (it is query-encoded, so neither "&" nor a Caddy
  // placeholder survives), up to what the gateway's /auth accepts in a query value.
  check(
    opts.authorization === undefined || isAuthorizationName(opts.authorization),
    'authorization',
    `"${opts.authorization ?? ''}" is not an authorization name ` +
      `(1 to ${MAX_AUTHORIZATION_CHARS} characters, no control characters)`
  )
  check(isDial(opts.gateway), 'gateway', `"${opts.gateway}" is not a dial address: expected HOST:PORT or unix//PATH`)
  const copy = [...(opts.copyHeaders ?? IDENTITY_HEADERS)]
  for (const h of copy)
    check(/^X-Conductor-[A-Za-z0-9-]+$/i.test(h), 'copyHeaders', `"${h}": only X-Conductor-* headers carry identity`)

  const query = new URLSearchParams({ policy: opts.policy })
  if (opts.authorization !== undefined) query.set('authorization', opts.authorization)
  return buildRoute(opts, authHandler(opts.gateway, `${AUTH_PATH}?${query.toString()}`, copy))
}

/** The same route for an endpoint without a policy (a public function): strip, rewrite, upstream. */
export function publicRoute(opts: PublicRouteOptions): CaddyRoute {
  return buildRoute(opts, undefined)
}

function buildRoute(opts: PublicRouteOptions, auth: { [k: string]: Json } | undefined): CaddyRoute {
  check(opts.id !== '' && !/[\s/]/.test(opts.id), 'id', `"${opts.id}" is not a usable @id: no spaces or "/"`)
  const match: { [k: string]: Json } = {}
  if (opts.host !== undefined && opts.host.length > 0) match.host = opts.host
  if (opts.path !== undefined && opts.path.length > 0) match.path = opts.path
  const handle: Json[] = [{ handler: 'headers', request: { delete: [...STRIPPED_HEADERS] } }]
  if (auth !== undefined) handle.push(auth)
  if (opts.rewrite !== undefined) handle.push({ handler: 'rewrite', uri: opts.rewrite })
  handle.push(upstreamHandler(opts.upstream))
  const route: CaddyRoute = { '@id': opts.id, handle, terminal: true }
  if (Object.keys(match).length > 0) route.match = [match]
  return route
}

/** The forward_auth-equivalent reverse_proxy to the gateway. */
export function authHandler(
  gateway: string,
  uri: string,
  copyHeaders: readonly string[] = IDENTITY_HEADERS
): { [k: string]: Json } {
  const set = Object.fromEntries(copyHeaders.map(h => [h, [`{http.reverse_proxy.header.${h}}`]]))
  const unsetMissing = copyHeaders.map(h => ({
    match: [{ header_regexp: { [h]: { pattern: '^\\{http\\.reverse_proxy\\.header\\.' } } }],
    handle: [{ handler: 'headers', request: { delete: [h] } }]
  }))
  return {
    handler: 'reverse_proxy',
    upstreams: [{ dial: gateway }],
    rewrite: { method: 'GET', uri },
    headers: {
      request: {
        set: {
          'X-Forwarded-Method': ['{http.request.method}'],
          'X-Forwarded-Uri': ['{http.request.uri}'],
          'X-Forwarded-Host': ['{http.request.hostport}']
        }
      }
    },
    handle_response: [
      {
        match: { status_code: [2] },
        routes: [{ handle: [{ handler: 'headers', request: { set } }] }, ...unsetMissing]
      }
    ]
  }
}

export function upstreamHandler(upstream: Upstream): { [k: string]: Json } {
  if ('static' in upstream) {
    const s = upstream.static
    const out: { [k: string]: Json } = { handler: 'static_response', status_code: s.status ?? 200 }
    if (s.body !== undefined) out.body = s.body
    if (s.headers !== undefined) out.headers = s.headers
    return out
  }
  const dials = Array.isArray(upstream.dial) ? upstream.dial : [upstream.dial]
  check(
    dials.length > 0 && dials.every(isDial),
    'upstream',
    `"${dials.join(', ')}" is not a dial address: expected HOST:PORT or unix//PATH`
  )
  const out: { [k: string]: Json } = { handler: 'reverse_proxy', upstreams: dials.map(dial => ({ dial })) }
  if (upstream.flushInterval !== undefined) out.flush_interval = upstream.flushInterval
  return out
}

/** HOST:PORT ([v6]:PORT) or unix//PATH, as Caddy's `dial`. */
export function isDial(s: string): boolean {
  return /^unix\/\/?\/\S+$/.test(s) || /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(s)
}

function isAuthorizationName(name: string): boolean {
  return name.length > 0 && name.length <= MAX_AUTHORIZATION_CHARS && !/[\u0000-\u001f\u007f]/.test(name)
}

function check(ok: boolean, field: string, message: string): void {
  if (!ok) throw new RouteInvalid(message, undefined, field)
}
