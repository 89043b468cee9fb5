// A Caddy route protected by the gateway, as Caddy 2.6.2's `forward_auth` adapts to JSON
// (`caddy adapt`), with one change: client-sent X-Conductor-* headers are deleted FIRST, so
// a forged identity header cannot reach the upstream (the Caddyfile directive order would
// run request_header after forward_auth). Test/bench helper only: caddy/ owns the real builder.

export const IDENTITY_HEADERS = ['X-Conductor-Subject', 'X-Conductor-Peer-Id', 'X-Conductor-Peer-Hostname', 'X-Conductor-Authorizations', 'X-Conductor-Policy'] as const

export interface ForwardAuthRouteOptions {
  id: string
  /** Path matcher, e.g. "/api/*"; omitted: every path. */
  path?: string
  /** Gateway dial address, "127.0.0.1:PORT". */
  gateway: string
  policy: string
  authorization?: string
  /** Upstream dial address; or a static body answered by Caddy itself. */
  upstream: { dial: string } | { body: string }
  /** Auth endpoint URI override (the benchmark points forward_auth at a Caddy static_response). */
  authUri?: string
}

export function forwardAuthRoute (o: ForwardAuthRouteOptions): object {
  const query = new URLSearchParams({ policy: o.policy, ...(o.authorization !== undefined ? { authorization: o.authorization } : {}) })
  const copy = Object.fromEntries(IDENTITY_HEADERS.map(h => [h, [`{http.reverse_proxy.header.${h}}`]]))
  return {
    '@id': o.id,
    ...(o.path !== undefined ? { match: [{ path: [o.path] }] } : {}),
    handle: [
      { handler: 'headers', request: { delete: ['X-Conductor-*'] } },
      {
        handler: 'reverse_proxy',
        upstreams: [{ dial: o.gateway }],
        rewrite: { method: 'GET', uri: o.authUri ?? `/auth?${query.toString()}` },
        headers: { request: { set: { 'X-Forwarded-Method': ['{http.request.method}'], 'X-Forwarded-Uri': ['{http.request.uri}'], 'X-Forwarded-Host': ['{http.request.host}'] } } },
        handle_response: [{ match: { status_code: [2] }, routes: [{ handle: [{ handler: 'headers', request: { set: copy } }] }] }]
      },
      'dial' in o.upstream
        ? { handler: 'reverse_proxy', upstreams: [{ dial: o.upstream.dial }] }
        : { handler: 'static_response', status_code: 200, body: o.upstream.body }
    ],
    terminal: true
  }
}

/**
 * POSTs JSON to Caddy's admin API on a fresh connection: Caddy closes kept-alive admin
 * connections when it reloads its config, and fetch would reuse such a socket ("other side closed").
 */
export async function postCaddyConfig (url: string, body: unknown): Promise<void> {
  const { request } = await import('node:http')
  const payload = JSON.stringify(body)
  await new Promise<void>((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, res => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('end', () => res.statusCode === 200 ? resolve() : reject(new Error(`POST ${url}: ${res.statusCode} ${text}`)))
    })
    req.on('error', reject)
    req.end(payload)
  })
}
