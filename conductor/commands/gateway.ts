import type { Command } from 'commander'
import { UsageError } from '../errors.js'
import type { CtxFactory } from './types.js'

// gateway/ (Fastify and its plugins) is imported when this command runs, not when the CLI
// starts: every other command (reload, run...) would otherwise pay its load time (bench/reload).

export function registerGatewayCommand (program: Command, makeCtx: CtxFactory): void {
  program.command('gateway')
    .description('Run the gateway (forward_auth target and functions); SIGHUP reloads services and policies')
    .option('--listen <addr>', 'HOST:PORT on loopback, or unix:/path (default 127.0.0.1:2080, the gateway\'s DEFAULT_LISTEN)')
    .option('--metrics-listen <addr>', 'HOST:PORT (loopback) or unix:/path for Prometheus /metrics, or "none"', '127.0.0.1:2081')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace', 'info')
    .action(async function (this: Command, opts: { listen?: string, metricsListen: string, logLevel: string }) {
      const ctx = makeCtx(this)
      const { buildGateway, createMetricsServer, CLOSE_GRACE_MS, DEFAULT_LISTEN, parseListen } = await import('../../gateway/index.js')
      if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(opts.logLevel)) throw new UsageError(`--log-level ${opts.logLevel}: expected fatal, error, warn, info, debug or trace`)
      let stopMetrics = async (): Promise<void> => {}
      let listen, metricsListen
      try {
        listen = parseListen(opts.listen ?? DEFAULT_LISTEN)
        metricsListen = opts.metricsListen === 'none' ? undefined : parseListen(opts.metricsListen)
      } catch (err) { throw new UsageError((err as Error).message) }
      const { app, state, metrics } = await buildGateway({ roots: ctx.roots, logger: { level: opts.logLevel } })
      if (metricsListen !== undefined) {
        const server = createMetricsServer(metrics)
        const where = metricsListen
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          if (where.kind === 'unix') server.listen(where.path, resolve)
          else server.listen(where.port, where.host, resolve)
        })
        stopMetrics = async () => { await new Promise(resolve => server.close(resolve)) }
        app.log.info({ metrics: opts.metricsListen }, 'metrics listening')
      }
      process.on('SIGHUP', () => { void (async () => {
        const result = await state.reload()
        if (result.ok) app.log.info({ services: result.state.services.length }, 'reloaded')
        else app.log.error({ err: result.error }, 'reload failed; the previous configuration stays in force')
      })() })
      const stop = (signal: string): void => {
        app.log.info({ signal }, 'stopping')
        const timer = setTimeout(() => process.exit(1), CLOSE_GRACE_MS)
        timer.unref()
        void Promise.all([app.close(), stopMetrics()]).then(() => process.exit(0))
      }
      process.once('SIGTERM', () => stop('SIGTERM'))
      process.once('SIGINT', () => stop('SIGINT'))
      if (listen.kind === 'unix') await app.listen({ path: listen.path })
      else await app.listen({ host: listen.host, port: listen.port })
      // Keep running: the action's promise resolves, but the server holds the event loop.
    })
}
