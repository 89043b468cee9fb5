import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import type { Roots } from '../conductor/index.js'
import { loadGatewayState, StateHolder } from './state.js'
import { createFunctionsRegistry, functionsPlugin, type Authorizer, type FunctionsRegistry } from './functions.js'

// The gateway: one Fastify process, Caddy's forward_auth target and the functions runner.
// Each area is an encapsulated plugin registered here (STYLE habit 9).

export interface GatewayOptions {
  roots: Pick<Roots, 'services' | 'policies'> & Partial<Pick<Roots, 'root' | 'run'>>
  logger?: FastifyServerOptions['logger']
  /** Policy check for functions (and commands) that declare a policy; absent: they are denied (403). */
  authorize?: Authorizer | undefined
  /** Directory of parallel-mode daemon sockets (default: ROOT/run/conductor/functions, else a tmp dir). */
  functionsSocketDir?: string | undefined
  /** conductor-spawner binary for single-shot CGI; false: fork the gateway; default: dist/cgi/conductor-spawner if built. */
  cgiSpawner?: string | false | undefined
}

export interface Gateway {
  app: FastifyInstance
  state: StateHolder
  /** Function runners (warm pools, daemons) by id. */
  functions: FunctionsRegistry
}

export async function buildGateway (opts: GatewayOptions): Promise<Gateway> {
  const state = new StateHolder(loadGatewayState(opts.roots), () => loadGatewayState(opts.roots))
  const app = Fastify({
    logger: opts.logger ?? false,
    // Caddy keeps connections open to us; a short keep-alive would make it reconnect often.
    keepAliveTimeout: 65_000
  })
  app.get('/healthz', async (_req, reply) => {
    return await reply.header('content-type', 'application/json').send({ ok: true, services: state.current.services.length, loaded_at: state.current.loadedAt.toISOString() })
  })
  const fnOpts = { state, roots: { root: opts.roots.root, run: opts.roots.run }, authorize: opts.authorize, socketDir: opts.functionsSocketDir, spawner: opts.cgiSpawner }
  const functions = createFunctionsRegistry(fnOpts, (msg, err) => app.log.warn({ err }, msg))
  await app.register(functionsPlugin, { ...fnOpts, registry: functions })
  await app.ready()
  return { app, state, functions }
}
