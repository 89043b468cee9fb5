import type { Command } from 'commander'
// Only the constants: gateway/index.ts would load Fastify and its plugins for every command
// (startup time), so the gateway itself is imported when this command runs.
import { DEFAULT_LISTEN, DEFAULT_MAX_EVENT_LOOP_DELAY_MS, DEFAULT_METRICS_LISTEN, DEFAULT_PRESSURE_SAMPLE_MS } from '../../../gateway/defaults.js'
import { ListenFailed, UsageError } from '../../errors.js'
import { loadHostConfig } from '../../model/host.js'
import type { CtxFactory } from './types.js'

interface GatewayCliOptions {
  listen?: string
  metricsListen?: string
  logLevel: string
  maxEventLoopDelay?: string
  maxEventLoopUtilization?: string
  pressureSample?: string
  fastAuth: boolean
  functionsListen?: string
  functionsGroup?: string
}

export function registerGatewayCommand (program: Command, makeCtx: CtxFactory): void {
  program.command('gateway')
    .description('Run the gateway (forward_auth target and functions); SIGHUP reloads services and policies')
    .option('--listen <addr>', `HOST:PORT on loopback, or unix:/path (default: host.json gateway_listen, else ${DEFAULT_LISTEN})`)
    .option('--metrics-listen <addr>', `HOST:PORT (loopback) or unix:/path for Prometheus /metrics, or "none" (default: host.json gateway_metrics_listen, else ${DEFAULT_METRICS_LISTEN})`)
    .option('--functions-listen <addr>', 'also serve functions on this address, normally unix:/run/conductor/functions.sock (mode 0660) that only Caddy\'s group may open (default: host.json functions_listen)')
    .option('--functions-group <group>', 'group (name or gid) given the --functions-listen socket, e.g. caddy (default: host.json functions_group)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace', 'info')
    .option('--max-event-loop-delay <ms>', `answer 503 + Retry-After when the event loop lags more than MS (0: off; default ${DEFAULT_MAX_EVENT_LOOP_DELAY_MS})`)
    .option('--max-event-loop-utilization <ratio>', 'answer 503 + Retry-After above this event-loop utilization, 0..1 (default 0: off)')
    .option('--no-fast-auth', 'answer /auth through the Fastify route only, without the raw node:http fast path (for comparisons)')
    .option('--pressure-sample <ms>', `how often load is sampled (default ${DEFAULT_PRESSURE_SAMPLE_MS})`)
    .action(async function (this: Command, opts: GatewayCliOptions) {
      const ctx = makeCtx(this)
      const {
        buildGateway, createMetricsServer, listenFunctions, CLOSE_GRACE_MS, parseListen, isLoopback,
        takeInheritedListenFd, preloadJwtLibrary, logPolicyProblems
      } = await import('../../../gateway/index.js')
      if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace'].includes(opts.logLevel)) throw new UsageError(`--log-level ${opts.logLevel}: expected fatal, error, warn, info, debug or trace`)
      let listen, metricsListen, functionsListen
      // The unit runs `conductor gateway` without flags: host.json holds this host's addresses.
      const host = loadHostConfig(ctx.roots.hostFile)
      opts.metricsListen ??= host.gateway_metrics_listen ?? DEFAULT_METRICS_LISTEN
      try {
        listen = parseListen(opts.listen ?? host.gateway_listen ?? DEFAULT_LISTEN)
        opts.functionsListen ??= host.functions_listen
        opts.functionsGroup ??= host.functions_group
        functionsListen = opts.functionsListen === undefined ? undefined : parseListen(opts.functionsListen)
        metricsListen = opts.metricsListen === 'none' ? undefined : parseListen(opts.metricsListen)
      } catch (err) { throw new UsageError((err as Error).message) }
      const pressure = {
        maxEventLoopDelayMs: number(opts.maxEventLoopDelay, '--max-event-loop-delay', 0, 60_000),
        maxEventLoopUtilization: number(opts.maxEventLoopUtilization, '--max-event-loop-utilization', 0, 1),
        sampleIntervalMs: number(opts.pressureSample, '--pressure-sample', 1, 60_000)
      }
      const { app, state, metrics, commands } = await buildGateway({ roots: ctx.roots, logger: { level: opts.logLevel }, pressure, fastAuth: opts.fastAuth })
      let stopMetrics = async (): Promise<void> => {}
      if (metricsListen !== undefined) {
        const server = createMetricsServer(metrics)
        const where = metricsListen
        await explainListen('--metrics-listen', opts.metricsListen, new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          if (where.kind === 'unix') server.listen(where.path, resolve)
          else server.listen(where.port, where.host, resolve)
        }), 'or "none" to serve no metrics')
        stopMetrics = async () => { await new Promise(resolve => server.close(resolve)) }
        app.log.info({ metrics: opts.metricsListen }, 'metrics listening')
      }
      process.on('SIGHUP', () => {
        void state.reload().then(result => {
          if (result.ok) {
            const set = result.state.policies
            const stale = set.stale.map(s => s.name)
            app.log.info({ services: result.state.services.length, policies: set.names, stale_policies: stale }, 'reloaded')
            logPolicyProblems(app.log, set)
          } else {
            const fields = { code: (result.error as { code?: string }).code, reason: (result.error as Error).message }
            app.log.error(fields, 'reload failed; the previous configuration stays in force')
          }
        })
      })
      let closeFunctions: (() => Promise<void>) | undefined
      const stop = (signal: string): void => {
        app.log.info({ signal }, 'stopping')
        const timer = setTimeout(() => process.exit(1), CLOSE_GRACE_MS)
        timer.unref()
        void Promise.all([app.close(), stopMetrics(), closeFunctions?.()]).then(() => process.exit(0))
      }
      // Remote commands run in process groups of their own: none may outlive the gateway, even
      // when the close grace runs out (app.close() stops them first, with SIGTERM then SIGKILL).
      process.on('exit', () => commands.killAllNow())
      process.once('SIGTERM', () => stop('SIGTERM'))
      process.once('SIGINT', () => stop('SIGINT'))
      // Under conductor-gateway.socket, systemd holds the listening socket: connections that
      // arrive while the gateway restarts wait in its backlog instead of being refused.
      const inheritedFd = takeInheritedListenFd()
      if (inheritedFd !== undefined) {
        // Node's listen({fd}) takes the socket as is; the host only keeps Fastify from binding
        // extra "localhost" addresses.
        await app.listen({ fd: inheritedFd, host: '127.0.0.1' } as unknown as Parameters<typeof app.listen>[0])
        // The socket unit's address came from host.json unchecked: the loopback-only rule of
        // --listen holds for it too, or /auth and functions would be reachable around Caddy.
        const bound = app.server.address()
        if (bound !== null && typeof bound === 'object' && !isLoopback(bound.address.replace(/^::ffff:/, ''))) {
          await app.close()
          throw new UsageError(`gateway: the socket passed by systemd listens on ${bound.address}:${bound.port}; the gateway listens on loopback only (set gateway_listen in host.json, then conductor system install)`)
        }
        app.log.info({ fd: inheritedFd, address: bound }, 'listening on the socket passed by systemd (conductor-gateway.socket)')
      } else {
        await explainListen('--listen', opts.listen ?? 'gateway_listen', listen.kind === 'unix' ? app.listen({ path: listen.path }) : app.listen({ host: listen.host, port: listen.port }))
      }
      if (functionsListen !== undefined) closeFunctions = (await explainListen('--functions-listen', opts.functionsListen ?? '', listenFunctions(app, functionsListen, { group: opts.functionsGroup }))).close
      // Serving now; the JWT library was left out of the start (policies/jwt.ts) and loads here.
      preloadJwtLibrary().catch((err: unknown) => { app.log.error({ err }, 'cannot load the JWT library (jose): JWT policies will refuse tokens') })
      // Keep running: the action's promise resolves, but the server holds the event loop.
    })
}

/** A listen error (EADDRINUSE, EACCES...) becomes one line naming the flag and the fix, not a stack. */
async function explainListen<T> (flag: string, address: string, listening: Promise<T>, alternative = ''): Promise<T> {
  try {
    return await listening
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'EADDRINUSE' ? 'the address is already in use (another gateway?)' : code === 'EACCES' ? 'permission denied' : (err as Error).message
    throw new ListenFailed(`gateway: cannot listen on ${address} (${flag}): ${why}; pass another ${flag}${alternative !== '' ? ' ' + alternative : ''}`, undefined, undefined, { cause: err })
  }
}

function number (value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${flag} ${value}: expected a number from ${min} to ${max}`)
  return n
}
