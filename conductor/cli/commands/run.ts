import type { Command } from 'commander'
import { UsageError } from '../../../errors/index.js'
import { exitWith } from '../exit.js'
import { renderJson, renderTable } from '../../output.js'
import { deploymentInvocation, runInvocation, serviceInvocation, type CommandInvocation } from '../../run/index.js'
import type { Service } from '../../model/index.js'
import { ctxService } from '../../context.js'
import { runInteractiveLocal, runInteractiveRemote, runRemote } from '../../run/index.js'
import { commandCaddySnippets } from '../../proxy/index.js'
import { DEFAULT_GATEWAY_LISTEN } from '../../model/index.js'
import { systemContext } from '../../reconcile/index.js'
import type { Ctx } from '../../context.js'
import { recordAndService } from './lifecycle.js'
import type { CtxFactory } from './types.js'

interface TtyOptions {
  interactive?: boolean
  tty?: boolean
}
interface RemoteOptions extends TtyOptions {
  remote?: string
  key?: string
  issuer?: string
  caFile?: string
}
interface RunOptions extends TtyOptions {
  service?: string
  deployment?: string
  list?: boolean
  json?: boolean
}

const INTERACTIVE_HELP =
  'run the command under a pseudo-terminal (it needs "interactive": true): raw keys, Ctrl-C and window size reach it; -i and -t mean the same, -it is the usual spelling'

export function registerRunCommands(program: Command, makeCtx: CtxFactory): void {
  program
    .command('run')
    .description(
      "Run a declared command in the context of a service (-s) or a deployment (-d); its exit status is conductor's. Put -- before arguments that look like options"
    )
    .option('-s, --service <name>', 'service context (or any running deployment, for service_any_deployment commands)')
    .option('-d, --deployment <id>', 'deployment context')
    .option('-i, --interactive', INTERACTIVE_HELP)
    .option('-t, --tty', 'same as -i')
    .option('--list', 'list the commands the service declares')
    .option('--json', 'with --list: print JSON')
    .argument('[command]', 'command name')
    .argument('[args...]', 'arguments passed to the command')
    .allowUnknownOption()
    .action(async function (this: Command, name: string | undefined, args: string[], opts: RunOptions) {
      const ctx = makeCtx(this)
      if ((opts.service === undefined) === (opts.deployment === undefined))
        throw new UsageError('give exactly one of -s SERVICE or -d DEPLOYMENT')
      if (opts.deployment !== undefined) {
        const sctx = await systemContext(ctx)
        const { rec, svc } = await recordAndService(sctx, opts.deployment)
        if (opts.list === true || name === undefined) {
          listCommands(ctx, svc, opts.json)
          return
        }
        await execute(ctx, deploymentInvocation(sctx, svc, rec, name, args), svc, isTty(opts))
        return
      }
      const svc = await ctxService(ctx, opts.service!)
      if (opts.list === true || name === undefined) {
        listCommands(ctx, svc, opts.json)
        return
      }
      await execute(ctx, await serviceInvocation(ctx, svc, name, args, () => systemContext(ctx)), svc, isTty(opts))
    })

  const action = program.command('action').description('Actions: declared commands of a service (seed "Actions")')
  action
    .command('caddy-config')
    .description("Print the Caddy routes [{id, config}] of SERVICE's remote commands (for its proxy template)")
    .argument('<service>', 'service name')
    .option(
      '--gateway <addr>',
      'gateway address, unix:/path or HOST:PORT (default: host.json gateway_listen, else ' +
        DEFAULT_GATEWAY_LISTEN +
        ')'
    )
    .option('--server-id <id>', 'Caddy @id of the HTTP server the routes go into', 'conductor-server')
    .action(async function (this: Command, service: string, opts: { gateway?: string; serverId: string }) {
      await printCaddyConfig(makeCtx(this), service, opts)
    })
  action
    .command('run')
    .description(
      'Run a declared command of SERVICE locally (same as `conductor run -s SERVICE NAME ARGS...`), or with --remote on a server through its gateway (the command needs "remote"); exits with the command\'s status'
    )
    .argument('<service>', 'service name')
    .argument('<name>', 'command name')
    .argument('[args...]', 'arguments passed to the command')
    .option('-i, --interactive', INTERACTIVE_HELP + '; with --remote, over a WebSocket')
    .option('-t, --tty', 'same as -i')
    .option('--remote <url>', 'run on this server (https://HOST[:PORT]) through its gateway')
    .option('--key <file>', 'with --remote: private key signing the token (conductor key generate)')
    .option(
      '--issuer <id>',
      'with --remote: token issuer, as in the policy entry (default: the key file name without .key)'
    )
    .option('--ca-file <file>', "with --remote: extra CA certificate (PEM) to trust, e.g. Caddy's local CA")
    .allowUnknownOption()
    .action(async function (this: Command, service: string, name: string, args: string[], opts: RemoteOptions) {
      const ctx = makeCtx(this)
      if (opts.remote !== undefined) {
        if (opts.key === undefined)
          throw new UsageError('--remote needs --key FILE (create one with conductor key generate NAME)')
        const remote = {
          url: opts.remote,
          keyFile: opts.key,
          issuer: opts.issuer,
          caFile: opts.caFile,
          service,
          command: name,
          args
        }
        exitWith(isTty(opts) ? await runInteractiveRemote(remote) : await runRemote(remote, ctx.io))
        return
      }
      if (opts.key !== undefined || opts.caFile !== undefined || opts.issuer !== undefined)
        throw new UsageError('--key, --issuer and --ca-file go with --remote')
      const svc = await ctxService(ctx, service)
      await execute(ctx, await serviceInvocation(ctx, svc, name, args, () => systemContext(ctx)), svc, isTty(opts))
    })
}

async function printCaddyConfig(
  ctx: Ctx,
  service: string,
  opts: { gateway?: string; serverId: string }
): Promise<void> {
  const svc = await ctxService(ctx, service)
  const snippets = commandCaddySnippets(
    svc,
    opts.gateway ?? (await ctx.host()).gateway_listen ?? DEFAULT_GATEWAY_LISTEN,
    opts.serverId
  )
  if (snippets.length === 0)
    throw new UsageError(
      `service "${service}" exposes no remote command (add "remote": {"policy": NAME} to a command)`,
      svc.file,
      '/commands'
    )
  ctx.io.out(renderJson(snippets))
}

async function execute(ctx: Ctx, inv: CommandInvocation, svc: Service, tty: boolean): Promise<void> {
  if (!tty) {
    exitWith(await runInvocation(inv, ctx.io))
    return
  }
  // The same rule as over the network: -it is for commands declared interactive.
  if (svc.commands[inv.name]?.interactive !== true)
    throw new UsageError(
      `command "${inv.name}" of service "${svc.name}" is not interactive: run it without -it, or declare "interactive": true`,
      svc.file,
      `/commands/${inv.name}`
    )
  exitWith(await runInteractiveLocal(inv))
}

function isTty(opts: TtyOptions): boolean {
  return opts.interactive === true || opts.tty === true
}

function listCommands(ctx: Ctx, svc: Service, json: boolean | undefined): void {
  const rows = Object.entries(svc.commands).map(([name, c]) => ({
    name,
    contexts: [
      c.service === true ? 'service' : '',
      c.service_any_deployment === true ? 'service_any_deployment' : '',
      c.deployment === true ? 'deployment' : ''
    ].filter(s => s !== ''),
    description: c.description ?? '',
    // Exposed through the gateway (Remote commands): its policy, or null.
    remote: c.remote?.policy ?? null,
    // Runs under a pty: `conductor action run -it`.
    interactive: c.interactive === true
  }))
  if (json === true) ctx.io.out(renderJson(rows))
  else
    ctx.io.out(
      renderTable(
        ['COMMAND', 'CONTEXTS', 'DESCRIPTION'],
        rows.map(r => [
          r.name,
          [
            ...r.contexts,
            ...(r.interactive ? ['interactive'] : []),
            ...(r.remote !== null ? [`remote:${r.remote}`] : [])
          ].join(','),
          r.description
        ])
      )
    )
}
