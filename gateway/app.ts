import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import http from 'node:http'
import { createMetrics, type GatewayMetrics } from './metrics.js'
import type { Roots } from '../conductor/index.js'
import { loadGatewayState, StateHolder } from './state.js'

// The gateway: one Fastify process, Caddy's forward_auth target and the functions runner.
// Each area is an encapsulated plugin registered here (STYLE habit 9).

export interface GatewayOptions {
  roots: Pick<Roots, 'services' | 'policies'>
  logger?: FastifyServerOptions['logger']
}

export interface Gateway {
  app: FastifyInstance
  state: StateHolder
  metrics: GatewayMetrics
}

export async function buildGateway (opts: GatewayOptions): Promise<Gateway> {
  const metrics = createMetrics()
  const state = new StateHolder(await loadGatewayState(opts.roots), async () => await loadGatewayState(opts.roots))
  const app = Fastify({
    logger: opts.logger ?? false,
    // Caddy keeps connections open to us; a short keep-alive would make it reconnect often.
    keepAliveTimeout: 65_000
  })
  app.get('/healthz', async (_req, reply) => {
    return await reply.header('content-type', 'application/json').send({ ok: true, services: state.current.services.length, loaded_at: state.current.loadedAt.toISOString() })
  })
  await app.ready()
  return { app, state, metrics }
}

/** The /metrics listener, apart from the gateway's own so no public route can reach it. */
export function createMetricsServer (metrics: GatewayMetrics): http.Server {
  return http.createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'content-length': '0' }).end()
      return
    }
    metrics.registry.metrics().then(text => {
      res.writeHead(200, { 'content-type': metrics.registry.contentType, 'content-length': Buffer.byteLength(text) }).end(text)
    }, (err: Error) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message)
    })
  })
}
