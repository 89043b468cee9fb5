import { createServer, type Server } from 'node:http'
import { errorAnswer, type ErrorAnswer } from '../errors/index.js'
import type { GatewayMetrics } from './metrics.js'

/**
 * The /metrics listener, apart from the gateway's own so no public route can reach it. It may
 * listen before the metrics exist (serve.ts listens first and loads prom-client with the rest of
 * the gateway): a scrape meanwhile waits for them. Errors in the one body shape (errors/http.ts).
 */
export function createMetricsServer(metrics: GatewayMetrics | Promise<GatewayMetrics>): Server {
  return createServer((req, res) => {
    const fail = (a: ErrorAnswer): void => {
      res.writeHead(a.status, a.headers).end(a.body)
    }
    if (req.method !== 'GET' || req.url !== '/metrics') {
      fail(errorAnswer('CND_NOT_FOUND', 'only GET /metrics here'))
      return
    }
    Promise.resolve(metrics)
      .then(async m => {
        m.refresh?.()
        const text = await m.registry.metrics()
        res
          .writeHead(200, { 'content-type': m.registry.contentType, 'content-length': Buffer.byteLength(text) })
          .end(text)
      })
      .catch((err: Error) => {
        // A private listener (the scraper's): the reason helps whoever reads it, and holds no secret.
        fail(errorAnswer('CND_INTERNAL', err.message))
      })
  })
}
