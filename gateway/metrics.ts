import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

// Prometheus metrics of the gateway (issue 9), served on a listener of their own so that no
// public Caddy route can reach them. One registry per gateway instance (tests run several).

export interface GatewayMetrics {
  registry: Registry
  decisions: Counter<'policy' | 'result'>
  decisionSeconds: Histogram<'policy'>
  invocations: Counter<'function' | 'status'>
  workers: Gauge<'function' | 'state'>
  queued: Gauge<'function'>
  shed: Counter<'reason'>
  /** Called before each scrape to bring gauges up to date (set by the gateway). */
  refresh?: () => void
}

export function createMetrics (): GatewayMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'conductor_gateway_' })
  return {
    registry,
    decisions: new Counter({ name: 'conductor_auth_decisions_total', help: 'Policy decisions by policy and result (allow, deny, unknown_policy)', labelNames: ['policy', 'result'], registers: [registry] }),
    decisionSeconds: new Histogram({
      name: 'conductor_auth_decision_seconds',
      help: 'Time to decide a /auth request',
      labelNames: ['policy'],
      // Decisions take microseconds (bearer) to milliseconds (first JWT of a key).
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25],
      registers: [registry]
    }),
    invocations: new Counter({ name: 'conductor_function_invocations_total', help: 'Function invocations by function id and HTTP status', labelNames: ['function', 'status'], registers: [registry] }),
    workers: new Gauge({ name: 'conductor_function_workers', help: 'Function worker processes by state (warm, busy)', labelNames: ['function', 'state'], registers: [registry] }),
    queued: new Gauge({ name: 'conductor_function_queue_length', help: 'Requests waiting for a function worker', labelNames: ['function'], registers: [registry] }),
    shed: new Counter({ name: 'conductor_shed_requests_total', help: 'Requests refused with 503 to protect the gateway', labelNames: ['reason'], registers: [registry] })
  }
}
