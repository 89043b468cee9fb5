import { createServer, type Server } from 'node:http'
import type { GatewayMetrics } from './metrics.js'

/**
 * The /metrics listener, apart from the gateway's own so no public route can reach it. It may
 * listen before the metrics exist (serve.ts listens first and loads prom-client with the rest of
 * the gateway): a scrape meanwhile waits for them.
 */
export function createMetricsServer (metrics: GatewayMetrics | Promise<GatewayMetrics>): Server {
  return createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404, { 'content-length': '0' }).end()
      return
    }
    Promise.resolve(metrics).then(async m => {
      m.refresh?.()
      const text = await m.registry.metrics()
      res.writeHead(200, { 'content-type': m.registry.contentType, 'content-length': Buffer.byteLength(text) }).end(text)
    }).catch((err: Error) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message)
    })
  })
}
