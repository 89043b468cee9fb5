import type { Command } from 'commander'
import { buildGateway, CLOSE_GRACE_MS, DEFAULT_LISTEN, listenFunctions, parseListen } from '../../gateway/index.js'
import { UsageError } from '../errors.js'
import type { CtxFactory } from './types.js'

export function registerGatewayCommand (program: Command, makeCtx: CtxFactory): void {
  program.command('gateway')
    .description('Run the gateway (forward_auth target and functions); SIGHUP reloads services and policies')
    .option('--listen <addr>', `HOST:PORT on loopback, or unix:/path (default ${DEFAULT_LISTEN})`, DEFAULT_LISTEN)
    .option('--functions-listen <addr>', 'also serve functions on this address, normally unix:/run/conductor/functions.sock (mode 0660) that only Caddy\'s group may open')
    .option('--functions-group <group>', 'group (name or gid) given the --functions-listen socket, e.g. caddy')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace', 'info')
    .action(async function (this: Command, opts: { listen: string, logLevel: string, functionsListen?: string, functionsGroup?: string }) {
      const ctx = makeCtx(this)
      if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(opts.logLevel)) throw new UsageError(`--log-level ${opts.logLevel}: expected fatal, error, warn, info, debug or trace`)
      let listen
      let functionsListen
      try {
        listen = parseListen(opts.listen)
        functionsListen = opts.functionsListen === undefined ? undefined : parseListen(opts.functionsListen)
      } catch (err) { throw new UsageError((err as Error).message) }
      const { app, state } = await buildGateway({ roots: ctx.roots, logger: { level: opts.logLevel } })
      process.on('SIGHUP', () => {
        const result = state.reload()
        if (result.ok) app.log.info({ services: result.state.services.length }, 'reloaded')
        else app.log.error({ err: result.error }, 'reload failed; the previous configuration stays in force')
      })
      let closeFunctions: (() => Promise<void>) | undefined
      const stop = (signal: string): void => {
        app.log.info({ signal }, 'stopping')
        const timer = setTimeout(() => process.exit(1), CLOSE_GRACE_MS)
        timer.unref()
        void Promise.all([app.close(), closeFunctions?.()]).then(() => process.exit(0))
      }
      process.once('SIGTERM', () => stop('SIGTERM'))
      process.once('SIGINT', () => stop('SIGINT'))
      if (listen.kind === 'unix') await app.listen({ path: listen.path })
      else await app.listen({ host: listen.host, port: listen.port })
      if (functionsListen !== undefined) closeFunctions = (await listenFunctions(app, functionsListen, { group: opts.functionsGroup })).close
      // Keep running: the action's promise resolves, but the server holds the event loop.
    })
}
