import type { Command } from 'commander'
import {
  CaddyUnreachable,
  DEFAULT_GATEWAY_DIAL,
  DEFAULT_ROUTES_TARGET,
  isDial,
  protectedRoute,
  registerSnippet,
  deregisterSnippet,
  type Upstream
} from '../../../caddy/index.js'
import { caddyClient, resolveCaddyAdmin } from '../../proxy/index.js'
import {
  listProtectedRoutes,
  removeProtectedRoute,
  saveProtectedRoute,
  snippetStatus,
  syncSnippets
} from '../../proxy/index.js'
import { positiveNumber, type Ctx } from '../../context.js'
import { UsageError } from '../../../errors/index.js'
import { Reported } from '../exit.js'
import { renderJson, renderTable } from '../../output.js'
import type { CtxFactory } from './types.js'

// `conductor caddy ...`: protect a route with a policy, show which snippets Caddy holds, and
// re-register them (after a Caddy restart). Exit codes: 0 fine, 1 something missing or
// failed, 2 usage, 6 Caddy unreachable or refusing a change.

interface ProtectOptions {
  policy: string
  host: string[]
  path: string[]
  upstream: string
  id?: string
  gateway?: string
  authorization?: string
  into: string
  print?: boolean
  json?: boolean
}

export function registerCaddyCommands(program: Command, makeCtx: CtxFactory): void {
  const caddy = program
    .command('caddy')
    .description(
      'Caddy admin API: protected routes, snippet status and sync (endpoint: --caddy-admin, CONDUCTOR_CADDY_ADMIN, host.json caddy_admin, default http://localhost:2019)'
    )

  caddy
    .command('protect')
    .description(
      "Add (or replace, by @id) a route that asks the gateway's /auth?policy=NAME before proxying to the upstream"
    )
    .requiredOption('--policy <name>', 'policy the gateway checks')
    .option('--host <host>', 'request host to match (repeatable)', collect, [])
    .option('--path <path>', 'request path to match, e.g. /api/* (repeatable)', collect, [])
    .requiredOption(
      '--upstream <addr>',
      'HOST:PORT (or http://HOST:PORT, unix//PATH) to proxy to; static:TEXT answers TEXT (for tests)'
    )
    .option('--id <id>', 'route @id (default: derived from policy, host and path)')
    .option(
      '--gateway <addr>',
      `gateway dial address (default: host.json gateway_listen, else ${DEFAULT_GATEWAY_DIAL})`
    )
    .option('--authorization <name>', 'authorization the policy entry must grant')
    .option('--into <id-path>', 'where the route is added: a Caddy @id path or /config/... path', DEFAULT_ROUTES_TARGET)
    .option('--print', 'print the route JSON and change nothing')
    .option('--json', 'print the result as JSON')
    .action(async function (this: Command, opts: ProtectOptions) {
      const ctx = makeCtx(this)
      const route = protectedRoute({
        id: opts.id ?? defaultRouteId(opts.policy, opts.host, opts.path),
        policy: opts.policy,
        authorization: opts.authorization,
        gateway: opts.gateway ?? (await gatewayDial(ctx)),
        host: opts.host,
        path: opts.path,
        upstream: parseUpstream(opts.upstream)
      })
      if (opts.print === true) {
        ctx.io.out(renderJson(route))
        return
      }
      const snippet = { id: opts.into, config: route }
      const result = await registerSnippet(caddyClient(ctx, await ctx.host()), snippet)
      saveProtectedRoute(ctx.roots, snippet)
      if (opts.json === true) ctx.io.out(renderJson({ id: route['@id'], into: opts.into, result }))
      else ctx.io.out(`route ${String(route['@id'])} ${result} in ${opts.into} (policy ${opts.policy})\n`)
    })

  caddy
    .command('unprotect')
    .description('Remove a route added by `caddy protect`, by its @id')
    .argument('<id>', 'route @id')
    .action(async function (this: Command, id: string) {
      const ctx = makeCtx(this)
      const known = listProtectedRoutes(ctx.roots).find(s => (s.config as Record<string, unknown>)['@id'] === id)
      const result = await deregisterSnippet(
        caddyClient(ctx, await ctx.host()),
        known ?? { id: DEFAULT_ROUTES_TARGET, config: { '@id': id } }
      )
      removeProtectedRoute(ctx.roots, id)
      ctx.io.out(`route ${id} ${result}\n`)
    })

  caddy
    .command('status')
    .description(
      'For every enabled service (and recorded deployment) run its proxy template and show whether each snippet is in Caddy; exit 1 if any is missing'
    )
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { json?: boolean }) {
      const ctx = makeCtx(this)
      const client = caddyClient(ctx, await ctx.host())
      // Ask Caddy even when nothing is declared: "all registered" must not hide "Caddy is down".
      await client.waitReachable(0)
      const owners = await snippetStatus(ctx, client)
      const bad = owners.some(o => o.error !== undefined || o.snippets.some(s => s.state !== 'registered'))
      if (opts.json === true) {
        ctx.io.out(renderJson({ caddy_admin: client.adminUrl, ok: !bad, owners }))
      } else {
        const rows = owners.flatMap(o =>
          o.error !== undefined
            ? [[o.owner, '', '', 'ERROR']]
            : o.snippets.map(s => [
                o.owner,
                s.id,
                s.at_id ?? '(none)',
                s.state + (s.register_only ? ' (register_only)' : '')
              ])
        )
        ctx.io.out(renderTable(['OWNER', 'TARGET', '@ID', 'STATE'], rows))
        for (const o of owners) if (o.error !== undefined) ctx.io.err(`conductor: ${o.owner}: ${o.error}\n`)
      }
      if (bad) throw new Reported('CND_SNIPPETS_FAILED')
    })

  caddy
    .command('sync')
    .description(
      'Register every snippet that should be in Caddy (run after Caddy restarts); exit 1 if one failed, 6 if Caddy is unreachable'
    )
    .option(
      '--wait <sec>',
      'wait up to SEC seconds for the admin API to answer first (when run right after Caddy starts)'
    )
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { json?: boolean; wait?: string }) {
      const ctx = makeCtx(this)
      const client = caddyClient(ctx, await ctx.host())
      const waitMs = opts.wait === undefined ? 0 : positiveNumber(opts.wait, '--wait') * 1000
      await client.waitReachable(waitMs)
      const owners = await syncSnippets(ctx, client, err => err instanceof CaddyUnreachable)
      const bad = owners.some(o => o.error !== undefined)
      if (opts.json === true) {
        ctx.io.out(renderJson({ caddy_admin: client.adminUrl, ok: !bad, owners }))
      } else {
        const rows = owners.flatMap(o =>
          o.error !== undefined
            ? [[o.owner, '', '', 'ERROR']]
            : o.results.map(r => [o.owner, r.id, r.at_id ?? '(none)', r.result])
        )
        ctx.io.out(renderTable(['OWNER', 'TARGET', '@ID', 'RESULT'], rows))
        for (const o of owners) if (o.error !== undefined) ctx.io.err(`conductor: ${o.owner}: ${o.error}\n`)
      }
      if (bad) throw new Reported('CND_SNIPPETS_FAILED')
    })

  caddy
    .command('endpoint')
    .description('Print the Caddy admin endpoint this host uses and where it comes from')
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { json?: boolean }) {
      const ctx = makeCtx(this)
      const r = resolveCaddyAdmin(ctx, await ctx.host())
      ctx.io.out(opts.json === true ? renderJson(r) : `${r.url} (${r.source})\n`)
    })
}

export function parseUpstream(value: string): Upstream {
  if (value.startsWith('static:')) return { static: { status: 200, body: value.slice(7) } }
  const dial = value.replace(/^http:\/\//, '').replace(/\/$/, '')
  if (!isDial(dial))
    throw new UsageError(`--upstream ${value}: expected HOST:PORT, http://HOST:PORT, unix//PATH or static:TEXT`)
  return { dial }
}

/** The gateway's dial address from host.json gateway_listen ("unix:/p" becomes "unix//p"). */
async function gatewayDial(ctx: Ctx): Promise<string> {
  const listen = (await ctx.host()).gateway_listen
  if (listen === undefined) return DEFAULT_GATEWAY_DIAL
  return listen.startsWith('unix:') ? `unix/${listen.slice(5)}` : listen
}

export function defaultRouteId(policy: string, hosts: string[], paths: string[]): string {
  const tail = [...hosts, ...paths]
    .join('-')
    .replace(/[^A-Za-z0-9_.]+/g, '-')
    .replace(/^-+|-+$/g, '')
  return `conductor-protect-${policy}${tail === '' ? '' : '-' + tail}`
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}
