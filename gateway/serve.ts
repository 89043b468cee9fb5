import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Roots, ValidationCache } from '../conductor/model/index.js'
import { preloadJwtLibrary } from '../policies/index.js'
import type { PressureOptions } from './app.js'
import type { AuthLog } from './auth-answer.js'
import { createAuthFastPath } from './auth-fast-path.js'
import { AuthStats } from './auth-stats.js'
import { createDecider } from './authorize.js'
import { CLOSE_GRACE_MS, STARTUP_QUIET_MAX_MS, STARTUP_QUIET_MS } from './defaults.js'
import { earlyLog } from './early-log.js'
import { GatewayError, ListenFailed, ListenNotAllowed } from './errors.js'
import { Front, HeldHandler } from './front.js'
import { listenFunctions } from './functions-listener.js'
import { isLoopback, parseServeAddresses, takeInheritedListenFd } from './listen.js'
import type { GatewayMetrics } from './metrics.js'
import { createMetricsServer } from './metrics-server.js'
import { healthBody, loadGatewayState, logPolicyProblems, StateHolder } from './state.js'

// The gateway as a long-running process (`conductor gateway`, conductor-gateway.service): its
// listeners (the socket systemd passes, or --listen; metrics; the functions socket), SIGHUP
// reloads, and a graceful stop on SIGTERM/SIGINT. The CLI only turns flags and host.json into
// these options: everything about the process lives here, beside the app it runs.
//
// Start order: the state (services, policies), then the listening socket with the /auth fast
// path and /healthz, and only then Fastify, its plugins, prom-client and the metrics and
// functions listeners (app.ts, imported here on purpose after the listen). A restarted
// gateway's queued requests wait for the first part only; other requests arriving meanwhile
// are held by the front server and handed to Fastify once it is attached (front.ts).

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
  /** Service and policy contents already validated (the CLI's cache): zod loads only for new content. */
  validationCache?: ValidationCache | undefined
  /** The systemd manager of this host (host.json scope): it creates the scopes of functions with service_directives. */
  systemdScope?: 'system' | 'user' | undefined
}

/** Starts the gateway and keeps it running until SIGTERM/SIGINT; resolves once it serves. */
export async function serveGateway(o: ServeOptions): Promise<void> {
  const where = parseServeAddresses(o)
  let log: AuthLog = earlyLog(o.logLevel)
  const load = { cache: o.validationCache }
  const initial = await loadGatewayState(o.roots, load)
  o.validationCache?.save()
  logPolicyProblems(log, initial.policies)
  // A reload isolates broken policy files: each keeps the version in force, everything else reloads.
  const state = new StateHolder(initial, async current => {
    try {
      return await loadGatewayState(o.roots, { ...load, previous: current })
    } finally {
      o.validationCache?.save()
    }
  })
  const stats = new AuthStats()
  const front = new Front({ holdUpgrades: true })
  if (o.fastAuth)
    front.fast = createAuthFastPath({
      decide: createDecider(state, stats),
      log: () => log,
      isUnderPressure: () => false
    })
  front.early = (req, res) => earlyHealth(req, res, state)

  process.on('SIGHUP', () => {
    void state.reload().then(result => {
      if (result.ok) {
        const set = result.state.policies
        const stale = set.stale.map(s => s.name)
        log.info({ services: result.state.services.length, policies: set.names, stale_policies: stale }, 'reloaded')
        logPolicyProblems(log, set)
      } else {
        const fields = { code: (result.error as { code?: string }).code, reason: (result.error as Error).message }
        log.error(fields, 'reload failed; the previous configuration stays in force')
      }
    })
  })
  // What stop() closes, in parallel: the listeners as they come up, and Fastify once it is there.
  const closing: Array<() => Promise<unknown>> = [async () => await front.close()]
  let commands: { killAllNow: () => void } | undefined
  const stop = (signal: string): void => {
    log.info({ signal }, 'stopping')
    const timer = setTimeout(() => process.exit(1), CLOSE_GRACE_MS)
    timer.unref()
    void Promise.all(closing.map(async c => await c())).then(() => process.exit(0))
  }
  // Remote commands run in process groups of their own: none may outlive the gateway, even
  // when the close grace runs out (app.close() stops them first, with SIGTERM then SIGKILL).
  process.on('exit', () => commands?.killAllNow())
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))

  // Every listener is up before the first answer: /healthz says the gateway serves on all of
  // them (requests the metrics and functions listeners get before Fastify is attached wait).
  let metricsReady: (m: GatewayMetrics) => void = () => {}
  if (where.metrics !== undefined) {
    const server = createMetricsServer(
      new Promise<GatewayMetrics>(resolve => {
        metricsReady = resolve
      })
    )
    const at = where.metrics
    await explainListen(
      '--metrics-listen',
      o.metricsListen ?? '',
      new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        if (at.kind === 'unix') server.listen(at.path, resolve)
        else server.listen(at.port, at.host, resolve)
      }),
      'or "none" to serve no metrics'
    )
    closing.push(async () => await new Promise(resolve => server.close(resolve)))
    log.info({ metrics: o.metricsListen }, 'metrics listening')
  }
  const functionsRouting = new HeldHandler()
  if (where.functions !== undefined) {
    const listening = listenFunctions({ routing: functionsRouting.handle }, where.functions, {
      group: o.functionsGroup
    })
    closing.push((await explainListen('--functions-listen', o.functionsListen ?? '', listening)).close)
  }
  await listenFront(front, o, where.listen, log)

  // Serving /auth now. The rest loads behind it, once what waited in the backlog is answered.
  await front.whenQuiet(STARTUP_QUIET_MS, STARTUP_QUIET_MAX_MS)
  const { buildGateway } = await import('./app.js')
  const gw = await buildGateway({
    roots: o.roots,
    logger: { level: o.logLevel },
    pressure: o.pressure,
    fastAuth: o.fastAuth,
    serving: { front, state, stats },
    systemdScope: o.systemdScope
  })
  const { app } = gw
  commands = gw.commands
  log = app.log
  closing.unshift(async () => await app.close())
  metricsReady(gw.metrics)
  functionsRouting.attach(app.routing)
  // The JWT library was left out of the start (policies/jwt.ts) and loads now.
  preloadJwtLibrary().catch((err: unknown) => {
    app.log.error({ err }, 'cannot load the JWT library (jose): JWT policies will refuse tokens')
  })
  // Keep running: the promise resolves, but the servers hold the event loop.
}

/** Listens on the socket systemd passes (conductor-gateway.socket) or on --listen. */
async function listenFront(
  front: Front,
  o: ServeOptions,
  at: ReturnType<typeof parseServeAddresses>['listen'],
  log: AuthLog
): Promise<void> {
  const server = front.server
  // Under conductor-gateway.socket, systemd holds the listening socket: connections that
  // arrive while the gateway restarts wait in its backlog instead of being refused.
  const inheritedFd = takeInheritedListenFd()
  if (inheritedFd !== undefined) {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ fd: inheritedFd }, resolve)
    })
    // The socket unit's address came from host.json unchecked: the loopback-only rule of
    // --listen holds for it too, or /auth and functions would be reachable around Caddy.
    const bound = server.address()
    if (bound !== null && typeof bound === 'object' && !isLoopback(bound.address.replace(/^::ffff:/, ''))) {
      await front.close()
      throw new ListenNotAllowed(
        `gateway: the socket passed by systemd listens on ${bound.address}:${bound.port}; ` +
          'the gateway listens on loopback only (set gateway_listen in host.json, then conductor system install)'
      )
    }
    log.info(
      { fd: inheritedFd, address: bound },
      'listening on the socket passed by systemd (conductor-gateway.socket)'
    )
    return
  }
  await explainListen(
    '--listen',
    o.listen,
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      if (at.kind === 'unix') server.listen(at.path, resolve)
      else server.listen(at.port, at.host, resolve)
    })
  )
  log.info({ address: o.listen }, 'Server listening')
}

/** GET/HEAD /healthz before Fastify is attached: the same answer as its route (app.ts), from the state. */
function earlyHealth(req: IncomingMessage, res: ServerResponse, state: StateHolder): boolean {
  if (req.url !== '/healthz' || (req.method !== 'GET' && req.method !== 'HEAD')) return false
  const body = JSON.stringify(healthBody(state.current))
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(req.method === 'HEAD' ? undefined : body)
  return true
}

/** A listen error (EADDRINUSE, EACCES...) becomes one line naming the flag and the fix, not a stack. */
async function explainListen<T>(flag: string, address: string, listening: Promise<T>, alternative = ''): Promise<T> {
  try {
    return await listening
  } catch (err) {
    if (err instanceof GatewayError) throw err
    const code = (err as NodeJS.ErrnoException).code
    const why =
      code === 'EADDRINUSE'
        ? 'the address is already in use (another gateway?)'
        : code === 'EACCES'
          ? 'permission denied'
          : (err as Error).message
    const also = alternative !== '' ? ' ' + alternative : ''
    throw new ListenFailed(`gateway: cannot listen on ${address} (${flag}): ${why}; pass another ${flag}${also}`, {
      cause: err
    })
  }
}
