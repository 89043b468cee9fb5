import type { Roots } from '../conductor/model/index.js'
import { preloadJwtLibrary } from '../policies/index.js'
import { buildGateway, createMetricsServer, type PressureOptions } from './app.js'
import { CLOSE_GRACE_MS } from './defaults.js'
import { GatewayError, ListenFailed, ListenNotAllowed } from './errors.js'
import { listenFunctions } from './functions-listener.js'
import { isLoopback, parseServeAddresses, takeInheritedListenFd } from './listen.js'
import { logPolicyProblems } from './state.js'

// The gateway as a long-running process (`conductor gateway`, conductor-gateway.service): its
// listeners (the socket systemd passes, or --listen; metrics; the functions socket), SIGHUP
// reloads, and a graceful stop on SIGTERM/SIGINT. The CLI only turns flags and host.json into
// these options: everything about the process lives here, beside the app it runs.

export interface ServeOptions {
  roots: Roots
  /** Addresses as given (flag or host.json), parsed here: `listen` HOST:PORT or unix:/path. */
  listen: string
  /** HOST:PORT, unix:/path, or undefined for no metrics listener. */
  metricsListen?: string | undefined
  functionsListen?: string | undefined
  functionsGroup?: string | undefined
  logLevel: string
  pressure: PressureOptions
  fastAuth: boolean
  /** The systemd manager of this host (host.json scope): it creates the scopes of functions with service_directives. */
  systemdScope?: 'system' | 'user' | undefined
}

/** Starts the gateway and keeps it running until SIGTERM/SIGINT; resolves once it serves. */
export async function serveGateway (o: ServeOptions): Promise<void> {
  const where = parseServeAddresses(o)
  const { app, state, metrics, commands } = await buildGateway({
    roots: o.roots, logger: { level: o.logLevel }, pressure: o.pressure, fastAuth: o.fastAuth,
    systemdScope: o.systemdScope
  })
  let stopMetrics = async (): Promise<void> => {}
  if (where.metrics !== undefined) {
    const server = createMetricsServer(metrics)
    const at = where.metrics
    await explainListen('--metrics-listen', o.metricsListen ?? '', new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      if (at.kind === 'unix') server.listen(at.path, resolve)
      else server.listen(at.port, at.host, resolve)
    }), 'or "none" to serve no metrics')
    stopMetrics = async () => { await new Promise(resolve => server.close(resolve)) }
    app.log.info({ metrics: o.metricsListen }, 'metrics listening')
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
      throw new ListenNotAllowed(`gateway: the socket passed by systemd listens on ${bound.address}:${bound.port}; ` +
        'the gateway listens on loopback only (set gateway_listen in host.json, then conductor system install)')
    }
    app.log.info({ fd: inheritedFd, address: bound }, 'listening on the socket passed by systemd (conductor-gateway.socket)')
  } else {
    const l = where.listen
    await explainListen('--listen', o.listen, l.kind === 'unix' ? app.listen({ path: l.path }) : app.listen({ host: l.host, port: l.port }))
  }
  if (where.functions !== undefined) {
    const listening = listenFunctions(app, where.functions, { group: o.functionsGroup })
    closeFunctions = (await explainListen('--functions-listen', o.functionsListen ?? '', listening)).close
  }
  // Serving now; the JWT library was left out of the start (policies/jwt.ts) and loads here.
  preloadJwtLibrary().catch((err: unknown) => {
    app.log.error({ err }, 'cannot load the JWT library (jose): JWT policies will refuse tokens')
  })
  // Keep running: the promise resolves, but the servers hold the event loop.
}

/** A listen error (EADDRINUSE, EACCES...) becomes one line naming the flag and the fix, not a stack. */
async function explainListen<T> (flag: string, address: string, listening: Promise<T>, alternative = ''): Promise<T> {
  try {
    return await listening
  } catch (err) {
    if (err instanceof GatewayError) throw err
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'EADDRINUSE'
      ? 'the address is already in use (another gateway?)'
      : code === 'EACCES' ? 'permission denied' : (err as Error).message
    const also = alternative !== '' ? ' ' + alternative : ''
    throw new ListenFailed(`gateway: cannot listen on ${address} (${flag}): ${why}; pass another ${flag}${also}`, { cause: err })
  }
}
