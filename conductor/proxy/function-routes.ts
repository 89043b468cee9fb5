import { protectedRoute, publicRoute } from '../../caddy/index.js'
import { FUNCTIONS_PREFIX, type FunctionInfo } from '../model/index.js'

// The Caddy route of one function (`conductor function caddy-config`), in the proxy
// template's snippet format [{id, config}]. The route, in order:
//   1. match host/path (route.host, route.path; default /.conductor/functions/ID/* on any host)
//   2. strip client-sent X-Conductor-* headers (and their _ spellings), so no identity header can be forged
//   3. with a policy: forward_auth to the gateway's /auth?policy=NAME (GET, X-Forwarded-*);
//      a non-2xx answer (401/403) goes back to the client as is
//   4. with a route: rewrite to /.conductor/functions/ID + the public URI (the gateway finds
//      the function by id and still sees the public path for PATH_INFO)
//   5. reverse_proxy to the gateway's function listener (a unix socket when configured)
// The gateway checks the policy again itself, so step 3 is an early answer, not the only guard.
// Built by caddy/routes.ts (protectedRoute, or publicRoute without a policy): one route builder.

export interface CaddySnippet {
  id: string
  config: Record<string, unknown>
}

/** `unix:/path` or `HOST:PORT` (gateway --listen syntax) to a Caddy dial address. */
export function caddyDial(listen: string): string {
  return listen.startsWith('unix:') ? `unix/${listen.slice(5)}` : listen
}

export function functionRouteId(id: string): string {
  return `conductor-function-${id}`
}

export function functionCaddySnippets(
  info: FunctionInfo,
  gatewayListen: string,
  serverId = 'conductor-server'
): CaddySnippet[] {
  const dial = caddyDial(gatewayListen)
  const declared = info.route.host !== undefined || info.route.path !== `${FUNCTIONS_PREFIX}/${info.id}/*`
  const route = {
    id: functionRouteId(info.id),
    host: info.route.host,
    path: declared ? [info.route.path] : [`${FUNCTIONS_PREFIX}/${info.id}`, `${FUNCTIONS_PREFIX}/${info.id}/*`],
    rewrite: info.fn.route !== undefined ? `${FUNCTIONS_PREFIX}/${info.id}{http.request.uri}` : undefined,
    upstream: { dial, flushInterval: -1 }
  }
  // The upstream is the gateway, which sets the function's identity after its own check:
  // nothing is copied from the /auth answer.
  const config =
    info.policy === undefined
      ? publicRoute(route)
      : protectedRoute({ ...route, policy: info.policy, gateway: dial, copyHeaders: [] })
  return [{ id: `${serverId}/routes`, config }]
}
