import type { Command } from 'commander'
import { DEFAULT_GATEWAY_LISTEN } from '../../model/index.js'
import { ConductorError, UsageError } from '../../../errors/index.js'
import { Reported } from '../exit.js'
import { functionCaddySnippets } from '../../proxy/index.js'
import { FUNCTIONS_PREFIX, listFunctions, type FunctionInfo } from '../../model/index.js'
import { renderJson, renderTable } from '../../output.js'
import { ctxServices } from '../../context.js'
import type { Ctx } from '../../context.js'
import type { CtxFactory } from './types.js'

export class FunctionNotFound extends ConductorError {
  override readonly code = 'CND_FUNCTION_NOT_FOUND'
}

export function registerFunctionCommands(program: Command, makeCtx: CtxFactory): void {
  const fn = program.command('function').description('Inspect functions (CGI, http-stdio, daemons) run by the gateway')

  fn.command('ls')
    .description('List functions: id, route, mode, policy (PUBLIC when none); exit 3 if a service is invalid')
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { json?: boolean }) {
      const ctx = makeCtx(this)
      const entries = await ctxServices(ctx)
      const fns = listFunctions(entries).map(f => f.info)
      if (opts.json === true) {
        ctx.io.out(
          renderJson(
            fns.map(f => ({
              id: f.id,
              service: f.service,
              name: f.name,
              format: f.format,
              mode: f.mode,
              public: f.isPublic,
              policy: f.policy ?? null,
              authorization: f.authorization,
              route: { host: f.route.host ?? null, path: f.route.path },
              url_path: `${FUNCTIONS_PREFIX}/${f.id}/`,
              path_info_strip: f.pathInfoStrip,
              min_warm: f.minWarm,
              max_workers: f.maxWorkers,
              max_queue: f.maxQueue,
              timeout_sec: f.timeoutSec,
              max_body_bytes: f.maxBodyBytes
            }))
          )
        )
      } else {
        ctx.io.out(
          renderTable(
            ['ID', 'SERVICE', 'FORMAT', 'MODE', 'WARM', 'ROUTE', 'POLICY'],
            fns.map(f => [
              f.id,
              f.service,
              f.mode === 'parallel' ? 'http (socket)' : f.format,
              f.mode,
              String(f.minWarm),
              routeText(f),
              f.policy ?? 'PUBLIC (no policy)'
            ])
          )
        )
      }
      for (const e of entries) if (e.error !== undefined) ctx.io.err(`conductor: ${e.error.message}\n`)
      if (entries.some(e => e.error !== undefined)) throw new Reported('CND_SERVICE_INVALID')
    })

  fn.command('caddy-config')
    .description(
      'Print the Caddy route snippets [{id, config}] of one function (for proxy templates: `exec conductor function caddy-config`)'
    )
    .option('--id <id>', 'function id (default: $CONDUCTOR_FUNCTION_ID)')
    .option(
      '--gateway <addr>',
      'gateway function listener, unix:/path or HOST:PORT (default: host.json functions_listen, else gateway_listen, else ' +
        DEFAULT_GATEWAY_LISTEN +
        ')'
    )
    .option('--server-id <id>', 'Caddy @id of the HTTP server the routes go into', 'conductor-server')
    .action(async function (this: Command, opts: { id?: string; gateway?: string; serverId: string }) {
      const ctx = makeCtx(this)
      const id = opts.id ?? ctx.env.CONDUCTOR_FUNCTION_ID
      if (id === undefined || id === '') throw new UsageError('no function: pass --id or set CONDUCTOR_FUNCTION_ID')
      const found = listFunctions(await ctxServices(ctx)).find(f => f.info.id === id)
      if (found === undefined) throw new FunctionNotFound(`no function "${id}" (see \`conductor function ls\`)`)
      ctx.io.out(
        renderJson(functionCaddySnippets(found.info, opts.gateway ?? (await gatewayFromHost(ctx)), opts.serverId))
      )
    })
}

function routeText(f: FunctionInfo): string {
  return (f.route.host !== undefined ? f.route.host.join(',') : '*') + f.route.path
}

/**
 * Where Caddy reaches functions: host.json `functions_listen` (the gateway's functions-only
 * socket), else `gateway_listen` (the address the gateway unit serves on), else the default.
 */
async function gatewayFromHost(ctx: Ctx): Promise<string> {
  const host = await ctx.host()
  return host.functions_listen ?? host.gateway_listen ?? DEFAULT_GATEWAY_LISTEN
}
