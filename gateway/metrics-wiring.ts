import type { FastifyInstance } from 'fastify'
import type { Authorizer } from './authorize.js'
import type { FunctionsRegistry } from './functions.js'
import type { GatewayMetrics } from './metrics.js'
import type { StateHolder } from './state.js'

// Feeds the metrics from the gateway's own paths. Label values are bounded: a policy name
// that does not exist (anyone can ask for one) is counted as "(unknown)", and only declared
// function ids get a label.

const FUNCTIONS_PATH = /^\/\.conductor\/functions\/([^/?]+)/

export function measuredAuthorizer (authorize: Authorizer, state: StateHolder, metrics: GatewayMetrics): Authorizer {
  return async input => {
    const t0 = performance.now()
    const d = await authorize(input)
    const known = state.current.policies.has(input.policy)
    const policy = known ? input.policy : '(unknown)'
    metrics.decisions.inc({ policy, result: d.allow ? 'allow' : known ? 'deny' : 'unknown_policy' })
    metrics.decisionSeconds.observe({ policy }, (performance.now() - t0) / 1000)
    return d
  }
}

/** Counts function invocations and shed requests; refreshes pool gauges before each scrape. */
export function observeGateway (app: FastifyInstance, functions: FunctionsRegistry, metrics: GatewayMetrics): void {
  app.addHook('onResponse', async (req, reply) => {
    if (reply.statusCode === 503 && app.isUnderPressure?.() === true) metrics.shed.inc({ reason: 'under_pressure' })
    const m = FUNCTIONS_PATH.exec(req.url)
    if (m !== null && functions.get(m[1]!) !== undefined) metrics.invocations.inc({ function: m[1]!, status: String(reply.statusCode) })
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
