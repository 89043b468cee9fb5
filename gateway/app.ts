import type { IncomingMessage, ServerResponse } from 'node:http'
import underPressure from '@fastify/under-pressure'
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions
} from 'fastify'
import type { Roots } from '../conductor/model/index.js'
import type { CompileOptions } from '../policies/index.js'
import { createAuthFastPath } from './auth-fast-path.js'
import { authRoutes } from './auth-route.js'
import type { AuthStats } from './auth-stats.js'
import { createAuthorizer, createDecider, type Authorizer } from './authorize.js'
import { commandsPlugin } from './commands.js'
import { RunningCommands } from './running-commands.js'
import { createFunctionsRegistry, functionsPlugin, type FunctionsRegistry } from './functions.js'
import {
  DEFAULT_MAX_EVENT_LOOP_DELAY_MS,
  DEFAULT_MAX_EVENT_LOOP_UTILIZATION,
  DEFAULT_PRESSURE_SAMPLE_MS,
  RETRY_AFTER_SEC,
  SHED_LOG_INTERVAL_MS
} from './defaults.js'
import { installErrorAnswers, overloadedAnswer } from './error-reply.js'
import { createMetrics, type GatewayMetrics } from './metrics.js'
import { Front } from './front.js'
import { observeGateway } from './metrics-wiring.js'
import { healthBody, loadGatewayState, logPolicyProblems, StateHolder } from './state.js'

// The gateway: one Fastify process, Caddy's forward_auth target and the functions runner.
// Each area is an encapsulated plugin registered here (STYLE habit 9).

export interface PressureOptions {
  /** 503 when the event loop lags more than this (ms); 0 disables. */
  maxEventLoopDelayMs?: number | undefined
  /** 503 when event-loop utilization exceeds this (0..1); 0 disables. */
  maxEventLoopUtilization?: number | undefined
  sampleIntervalMs?: number | undefined
}

export interface GatewayOptions {
  roots: Pick<Roots, 'services' | 'policies'> & Partial<Pick<Roots, 'root' | 'run'>>
  logger?: FastifyServerOptions['logger']
  pressure?: PressureOptions | undefined
  /** Clock and fetch for policies (tests). */
  policy?: CompileOptions | undefined
  /** Answer /auth on the raw node:http fast path before Fastify (default true; false: Fastify route only). */
  fastAuth?: boolean | undefined
  /** Policy decision for functions; default: the gateway's own policies (the same decision as /auth). */
  functionAuthorize?: Authorizer | undefined
  /** Directory of parallel-mode daemon sockets (default: ROOT/run/conductor/functions, else a tmp dir). */
  functionsSocketDir?: string | undefined
  /** conductor-spawner binary for single-shot CGI; false: fork the gateway; default: dist/cgi/conductor-spawner if built. */
  cgiSpawner?: string | false | undefined
  /** The systemd manager that makes the scopes of functions with service_directives (host.json scope); default system. */
  systemdScope?: 'system' | 'user' | undefined
  /** Base environment of remote commands (PATH...); default the gateway's. */
  commandEnv?: NodeJS.ProcessEnv | undefined
  /**
   * serve.ts: the server already listening (and answering /auth) while this loads, with the
   * state and decision counts it serves from. Without it the gateway has a server of its own
   * (`app.server`, for app.listen) and loads its state here.
   */
  serving?: { front: Front; state: StateHolder; stats: AuthStats } | undefined
}

export interface Gateway {
  app: FastifyInstance
  state: StateHolder
  /** Decides a request against a policy; for gateway plugins that protect their own routes. */
  authorize: Authorizer
  metrics: GatewayMetrics
  /** Function runners (warm pools, daemons) by id. */
  functions: FunctionsRegistry
  /** Remote commands in flight (stopped by app.close(); killAllNow() on process exit). */
  commands: RunningCommands
}

export async function buildGateway(opts: GatewayOptions): Promise<Gateway> {
  let state: StateHolder
  if (opts.serving === undefined) {
    const initial = await loadGatewayState(opts.roots, { policy: opts.policy })
    // A reload isolates broken policy files: each keeps the version in force, everything else reloads.
    state = new StateHolder(
      initial,
      async current => await loadGatewayState(opts.roots, { previous: current, policy: opts.policy })
    )
  } else {
    state = opts.serving.state
  }
  const metrics = createMetrics(opts.serving?.stats, opts.roots.run)
  // The HTTP server is ours so that /auth can be answered before Fastify (front.ts). Served, it
  // already listens: Fastify gets a server that never listens, fed by the front one.
  const front = opts.serving?.front ?? new Front()
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined
  const app = Fastify({
    logger: opts.logger ?? false,
    serverFactory: h => {
      handler = h
      return opts.serving === undefined ? front.server : front.innerServer()
    },
    // /auth writes its own access line (policy, decision, duration); the generic pair of lines would double the cost.
    logController: new LogController({
      disableRequestLogging: (req: { url?: string }) => req.url?.startsWith('/auth') === true
    })
  })
  if (opts.serving === undefined) logPolicyProblems(app.log, state.current.policies)
  // Before any route: every error answer, Fastify's own included, in the one shape.
  installErrorAnswers(app)
  const p = opts.pressure ?? {}
  const shedLog = { count: 0, since: 0 }
  // Every shed request, whatever path refused it: one warning per interval with the count.
  const noteShed = (log: FastifyBaseLogger, fields: Record<string, unknown>): void => {
    shedLog.count++
    const now = Date.now()
    if (now - shedLog.since >= SHED_LOG_INTERVAL_MS) {
      log.warn({ shed: shedLog.count, ...fields }, 'shedding load: answering 503 + Retry-After')
      shedLog.count = 0
      shedLog.since = now
    }
  }
  await app.register(underPressure, {
    maxEventLoopDelay: p.maxEventLoopDelayMs ?? DEFAULT_MAX_EVENT_LOOP_DELAY_MS,
    maxEventLoopUtilization: p.maxEventLoopUtilization ?? DEFAULT_MAX_EVENT_LOOP_UTILIZATION,
    sampleInterval: p.sampleIntervalMs ?? DEFAULT_PRESSURE_SAMPLE_MS,
    retryAfter: RETRY_AFTER_SEC,
    // The plugin's default answer throws an error that Fastify logs at level error with a
    // stack, once per shed request: under load that floods the journal exactly when it
    // matters. Answer here, and log one warning per interval with the count instead. A
    // returned value is sent as the reply (under-pressure 9 handlePressure; its types say
    // void, hence the cast): returning nothing would let the request through.
    pressureHandler: ((req: FastifyRequest, reply: FastifyReply, type: string, value: number | undefined) => {
      noteShed(req.log, { type, value })
      const answer = overloadedAnswer()
      void reply.code(answer.status).headers({ ...answer.headers, 'retry-after': String(RETRY_AFTER_SEC) })
      return answer.body
    }) as unknown as (req: FastifyRequest, reply: FastifyReply) => void
  })
  const decide = createDecider(state, metrics.auth)
  const authorize = createAuthorizer(decide)
  const fnOpts = {
    state,
    roots: { root: opts.roots.root, run: opts.roots.run },
    // No path reaches a function without its policy: the gateway checks it itself, with the
    // same decision /auth gives Caddy, and the function route gets that Decision.
    authorize: opts.functionAuthorize ?? authorize,
    socketDir: opts.functionsSocketDir,
    spawner: opts.cgiSpawner,
    systemdScope: opts.systemdScope
  }
  const functions = createFunctionsRegistry(fnOpts, (msg, err) => app.log.warn({ err }, msg))
  // Before the routes, so that its onResponse hook sees every one of them.
  observeGateway(app, functions, metrics)
  await app.register(authRoutes, { authorize })
  if (opts.fastAuth !== false) {
    front.fast = createAuthFastPath({ decide, log: () => app.log, isUnderPressure: () => app.isUnderPressure() })
  }
  await app.register(functionsPlugin, { ...fnOpts, registry: functions })
  const commands = new RunningCommands()
  // WebSocket upgrades never pass through Fastify's hooks, where under-pressure sheds: the
  // interactive command handler asks here, and a refusal is logged and counted like the rest.
  const shedUpgrade = (): boolean => {
    if (!app.isUnderPressure()) return false
    noteShed(app.log, { type: 'upgrade' })
    metrics.shed.inc({ reason: 'under_pressure' })
    return true
  }
  await app.register(commandsPlugin, {
    state,
    authorize,
    roots: { root: opts.roots.root },
    env: opts.commandEnv,
    running: commands,
    shedUpgrade
  })
  app.get('/healthz', async (_req, reply) => {
    return await reply.header('content-type', 'application/json').send(healthBody(state.current))
  })
  await app.ready()
  // Served: requests held while this loaded go to Fastify now, and upgrades to its listeners.
  front.attach(handler!, opts.serving === undefined ? undefined : app.server)
  return { app, state, authorize, metrics, functions, commands }
}
