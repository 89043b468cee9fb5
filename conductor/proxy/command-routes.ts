import { protectedRoute } from '../../caddy/index.js'
import { caddyDial, type CaddySnippet } from './function-routes.js'
import { COMMANDS_PREFIX, type Service } from '../model/index.js'

// Caddy routes of a service's remote commands (`conductor action caddy-config SERVICE`), in
// the proxy template's snippet format, built by caddy/routes.ts protectedRoute. Per command:
// exact path match, client-sent X-Conductor-* headers dropped, forward_auth to /auth with the command's policy and
// authorization (an early answer: the gateway checks again, plus the token's command claims
// and its jti), then reverse_proxy to the gateway with flush_interval -1 so each output frame
// reaches the client as it is written.
// The same route carries interactive commands (`-it`): reverse_proxy passes the WebSocket
// upgrade through, and forward_auth's GET subrequest copies the client's headers (the
// Authorization, and Connection/Upgrade too), which the gateway answers as a plain /auth
// request (gateway/interactive.ts) so the decision works the same for both.

export function commandRouteId(service: string, name: string): string {
  return `conductor-command-${service}-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}`
}

export function commandCaddySnippets(
  svc: Service,
  gatewayListen: string,
  serverId = 'conductor-server'
): CaddySnippet[] {
  const dial = caddyDial(gatewayListen)
  const out: CaddySnippet[] = []
  for (const [name, cmd] of Object.entries(svc.commands)) {
    if (cmd.remote === undefined) continue
    out.push({
      id: `${serverId}/routes`,
      config: protectedRoute({
        id: commandRouteId(svc.name, name),
        path: [`${COMMANDS_PREFIX}/${svc.name}/commands/${name}`],
        policy: cmd.remote.policy,
        authorization: cmd.remote.authorization ?? `command:${svc.name}:${name}`,
        gateway: dial,
        // The upstream is the gateway, which decides again and keeps the identity itself.
        copyHeaders: [],
        upstream: { dial, flushInterval: -1 }
      })
    })
  }
  return out
}
