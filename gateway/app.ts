import underPressure from '@fastify/under-pressure'
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Roots } from '../conductor/index.js'
import type { CompileOptions } from '../policies/index.js'
import { authRoutes } from './auth-route.js'
import { createAuthorizer, type Authorizer } from './authorize.js'
import { DEFAULT_MAX_EVENT_LOOP_DELAY_MS, DEFAULT_MAX_EVENT_LOOP_UTILIZATION, DEFAULT_PRESSURE_SAMPLE_MS, RETRY_AFTER_SEC } from './defaults.js'
import { loadGatewayState, StateHolder } from './state.js'

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
  roots: Pick<Roots, 'services' | 'policies'>
  logger?: FastifyServerOptions['logger']
  pressure?: PressureOptions | undefined
  /** Clock and fetch for policies (tests). */
  policy?: CompileOptions | undefined
}

export interface Gateway {
  app: FastifyInstance
  state: StateHolder
  /** Decides a request against a policy; for gateway plugins that protect their own routes. */
  authorize: Authorizer
}

export async function buildGateway (opts: GatewayOptions): Promise<Gateway> {
  const initial = loadGatewayState(opts.roots, { policy: opts.policy })
  // A reload is all-or-nothing: a broken policy file keeps the previous state in force.
  const state = new StateHolder(initial, () => loadGatewayState(opts.roots, { strict: true, policy: opts.policy }))
  const app = Fastify({
    logger: opts.logger ?? false,
    // Caddy keeps connections open to us; a short keep-alive would make it reconnect often.
    keepAliveTimeout: 65_000,
    // /auth writes its own access line (policy, decision, duration); the generic pair of lines would double the cost.
    logController: new LogController({ disableRequestLogging: (req: { url?: string }) => req.url?.startsWith('/auth') === true })
  })
  for (const p of initial.policies.problems) app.log.error({ file: p.file, path: p.jsonPath }, `policy left out: ${p.message}`)
  const p = opts.pressure ?? {}
  await app.register(underPressure, {
    maxEventLoopDelay: p.maxEventLoopDelayMs ?? DEFAULT_MAX_EVENT_LOOP_DELAY_MS,
    maxEventLoopUtilization: p.maxEventLoopUtilization ?? DEFAULT_MAX_EVENT_LOOP_UTILIZATION,
    sampleInterval: p.sampleIntervalMs ?? DEFAULT_PRESSURE_SAMPLE_MS,
    retryAfter: RETRY_AFTER_SEC
  })
  const authorize = createAuthorizer(state)
  await app.register(authRoutes, { authorize })
  app.get('/healthz', async (_req, reply) => {
    const s = state.current
    return await reply.header('content-type', 'application/json').send({ ok: true, services: s.services.length, policies: s.policies.size, loaded_at: s.loadedAt.toISOString() })
  })
  await app.ready()
  return { app, state, authorize }
}
