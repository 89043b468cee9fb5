import { FUNCTIONS_PREFIX, type FunctionInfo } from './functions.js'

// The Caddy route of one function (`conductor function caddy-config`), in the proxy
// template's snippet format [{id, config}]. The route, in order:
//   1. match host/path (route.host, route.path; default /.conductor/functions/ID/* on any host)
//   2. strip client-sent X-Conductor-* headers, so no identity header can be forged
//   3. with a policy: forward_auth to the gateway's /auth?policy=NAME (GET, X-Forwarded-*);
//      a non-2xx answer (401/403) goes back to the client as is
//   4. with a route: rewrite to /.conductor/functions/ID + the public URI (the gateway finds
//      the function by id and still sees the public path for PATH_INFO)
//   5. reverse_proxy to the gateway's function listener (a unix socket when configured)
// The gateway checks the policy again itself, so step 3 is an early answer, not the only guard.

export interface CaddySnippet {
  id: string
  config: Record<string, unknown>
}

/** `unix:/path` or `HOST:PORT` (gateway --listen syntax) to a Caddy dial address. */
export function caddyDial (listen: string): string {
  return listen.startsWith('unix:') ? `unix/${listen.slice(5)}` : listen
}

export function functionRouteId (id: string): string {
  return `conductor-function-${id}`
}

export function functionCaddySnippets (info: FunctionInfo, gatewayListen: string, serverId = 'conductor-server'): CaddySnippet[] {
  const dial = caddyDial(gatewayListen)
  const match: Record<string, unknown> = info.route.host !== undefined || info.route.path !== `${FUNCTIONS_PREFIX}/${info.id}/*`
    ? { ...(info.route.host !== undefined ? { host: info.route.host } : {}), path: [info.route.path] }
    : { path: [`${FUNCTIONS_PREFIX}/${info.id}`, `${FUNCTIONS_PREFIX}/${info.id}/*`] }
  const handle: unknown[] = [
    { handler: 'headers', request: { delete: ['X-Conductor-*'] } }
  ]
  if (info.policy !== undefined) {
    handle.push({
      handler: 'reverse_proxy',
      upstreams: [{ dial }],
      rewrite: { method: 'GET', uri: `/auth?policy=${encodeURIComponent(info.policy)}` },
      headers: { request: { set: { 'X-Forwarded-Method': ['{http.request.method}'], 'X-Forwarded-Uri': ['{http.request.uri}'], 'X-Forwarded-Host': ['{http.request.host}'] } } },
      handle_response: [{ match: { status_code: [2] }, routes: [{ handle: [{ handler: 'headers', request: {} }] }] }]
    })
  }
  if (info.fn.route !== undefined) {
    handle.push({ handler: 'rewrite', uri: `${FUNCTIONS_PREFIX}/${info.id}{http.request.uri}` })
  }
  handle.push({ handler: 'reverse_proxy', upstreams: [{ dial }], flush_interval: -1 })
  return [{
    id: `${serverId}/routes`,
    config: { '@id': functionRouteId(info.id), match: [match], handle, terminal: true }
  }]
}
