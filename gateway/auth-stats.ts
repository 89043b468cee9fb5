// What /auth counts for its metrics (conductor_auth_decisions_total and
// conductor_auth_decision_seconds), kept in plain numbers. prom-client's labelled inc() and
// observe() hash their label object on every call (about 1 µs together per request, measured):
// here a request costs one map lookup and a few additions, and metrics.ts turns the numbers into
// the two Prometheus metrics when /metrics is scraped. No prom-client here, so the raw /auth
// path can count before the rest of the gateway has loaded.

/** Upper bounds (seconds) of the decision-time histogram: microseconds (bearer) to milliseconds (first JWT of a key). */
export const DECISION_BUCKETS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25
]
/** The label of every policy name that does not exist (anyone can ask for one: labels stay bounded). */
export const UNKNOWN_POLICY_LABEL = '(unknown)'

export interface PolicyCounts {
  allow: number
  deny: number
  unknownPolicy: number
  /** Observations per bucket (not cumulative); the last slot is above the largest bound. */
  buckets: number[]
  sum: number
  count: number
}

export class AuthStats {
  readonly byPolicy = new Map<string, PolicyCounts>()

  /** One decision: `known` false for a policy name that does not exist. */
  record(policy: string, known: boolean, allow: boolean, seconds: number): void {
    const label = known ? policy : UNKNOWN_POLICY_LABEL
    let c = this.byPolicy.get(label)
    if (c === undefined) {
      c = {
        allow: 0,
        deny: 0,
        unknownPolicy: 0,
        buckets: new Array<number>(DECISION_BUCKETS.length + 1).fill(0),
        sum: 0,
        count: 0
      }
      this.byPolicy.set(label, c)
    }
    if (allow) c.allow++
    else if (known) c.deny++
    else c.unknownPolicy++
    let b = 0
    while (b < DECISION_BUCKETS.length && seconds > DECISION_BUCKETS[b]!) b++
    c.buckets[b]!++
    c.sum += seconds
    c.count++
  }

  reset(): void {
    this.byPolicy.clear()
  }
}
