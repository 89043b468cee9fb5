import type { FastifyInstance } from 'fastify'
import type { FunctionsRegistry } from './functions.js'
import type { GatewayMetrics } from './metrics.js'

// Feeds the metrics from the gateway's own paths (decisions are counted by authorize.ts).
// Label values are bounded: only declared function ids get a label.

const FUNCTIONS_PATH = /^\/\.conductor\/functions\/([^/?]+)/

/** Counts function invocations and shed requests; refreshes pool gauges before each scrape. */
export function observeGateway(app: FastifyInstance, functions: FunctionsRegistry, metrics: GatewayMetrics): void {
  app.addHook('onResponse', async (req, reply) => {
    if (reply.statusCode === 503 && app.isUnderPressure?.() === true) metrics.shed.inc({ reason: 'under_pressure' })
    const m = FUNCTIONS_PATH.exec(req.url)
    if (m !== null && functions.get(m[1]!) !== undefined)
      metrics.invocations.inc({ function: m[1]!, status: String(reply.statusCode) })
  })
  metrics.refresh = () => {
    metrics.workers.reset()
    metrics.queued.reset()
    for (const r of functions.all()) {
      const s = r.runner.stats()
      metrics.workers.set({ function: s.id, state: 'busy' }, s.active)
      metrics.workers.set({ function: s.id, state: 'warm' }, s.idle)
      metrics.queued.set({ function: s.id }, s.queued)
    }
  }
}
