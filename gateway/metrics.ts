import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client'
import { AuthStats, DECISION_BUCKETS } from './auth-stats.js'
import { registerFleetSyncMetrics } from './fleet-metrics.js'

// Prometheus metrics of the gateway (issue 9), served on a listener of their own so that no
// public Caddy route can reach them. One registry per gateway instance (tests run several).

export interface GatewayMetrics {
  registry: Registry
  /** /auth decisions (conductor_auth_decisions_total, conductor_auth_decision_seconds), counted without prom-client. */
  auth: AuthStats
  invocations: Counter<'function' | 'status'>
  workers: Gauge<'function' | 'state'>
  queued: Gauge<'function'>
  shed: Counter<'reason'>
  /** Called before each scrape to bring gauges up to date (set by the gateway). */
  refresh?: () => void
}

/**
 * `auth`: the counts the gateway kept before the registry existed (serve.ts starts answering /auth
 * first); `runDir`: ROOT/run/conductor, where the fleet daemon's sync status is read at each scrape.
 */
export function createMetrics(auth: AuthStats = new AuthStats(), runDir?: string): GatewayMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'conductor_gateway_' })
  registry.registerMetric(decisionsMetric(auth))
  registry.registerMetric(decisionSecondsMetric(auth))
  if (runDir !== undefined) registerFleetSyncMetrics(registry, runDir)
  return {
    registry,
    auth,
    invocations: new Counter({
      name: 'conductor_function_invocations_total',
      help: 'Function invocations by function id and HTTP status',
      labelNames: ['function', 'status'],
      registers: [registry]
    }),
    workers: new Gauge({
      name: 'conductor_function_workers',
      help: 'Function worker processes by state (warm, busy)',
      labelNames: ['function', 'state'],
      registers: [registry]
    }),
    queued: new Gauge({
      name: 'conductor_function_queue_length',
      help: 'Requests waiting for a function worker',
      labelNames: ['function'],
      registers: [registry]
    }),
    shed: new Counter({
      name: 'conductor_shed_requests_total',
      help: 'Requests refused with 503 to protect the gateway',
      labelNames: ['reason'],
      registers: [registry]
    })
  }
}

// The two /auth metrics as the registry reads any metric: get() gives name, type and values in
// the shape prom-client's own Counter and Histogram give (same text on /metrics).
interface Value {
  labels: Record<string, string | number>
  value: number
  metricName?: string
}

function decisionsMetric(auth: AuthStats): Metric {
  const name = 'conductor_auth_decisions_total'
  const help = 'Policy decisions by policy and result (allow, deny, unknown_policy)'
  return custom(name, help, 'counter', auth, () => {
    const values: Value[] = []
    for (const [policy, c] of auth.byPolicy) {
      if (c.allow > 0) values.push({ labels: { policy, result: 'allow' }, value: c.allow })
      if (c.deny > 0) values.push({ labels: { policy, result: 'deny' }, value: c.deny })
      if (c.unknownPolicy > 0) values.push({ labels: { policy, result: 'unknown_policy' }, value: c.unknownPolicy })
    }
    return values
  })
}

function decisionSecondsMetric(auth: AuthStats): Metric {
  const name = 'conductor_auth_decision_seconds'
  return custom(name, 'Time to decide a /auth request', 'histogram', auth, () => {
    const values: Value[] = []
    for (const [policy, c] of auth.byPolicy) {
      let acc = 0
      DECISION_BUCKETS.forEach((le, i) => {
        acc += c.buckets[i]!
        values.push({ labels: { le, policy }, value: acc, metricName: `${name}_bucket` })
      })
      values.push({ labels: { le: '+Inf', policy }, value: c.count, metricName: `${name}_bucket` })
      values.push({ labels: { policy }, value: c.sum, metricName: `${name}_sum` })
      values.push({ labels: { policy }, value: c.count, metricName: `${name}_count` })
    }
    return values
  })
}

function custom(
  name: string,
  help: string,
  type: 'counter' | 'histogram',
  auth: AuthStats,
  values: () => Value[]
): Metric {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
    reset: () => {
      auth.reset()
    }
  }
  return metric as unknown as Metric
}
