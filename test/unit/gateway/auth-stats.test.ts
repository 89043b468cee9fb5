import t from 'tap'
import { AuthStats, DECISION_BUCKETS, UNKNOWN_POLICY_LABEL } from '../../../gateway/auth-stats.js'
import { createMetrics } from '../../../gateway/metrics.js'

t.test('decisions are counted by policy and result; unknown names share one label', async t => {
  const s = new AuthStats()
  s.record('p', true, true, 0.00001)
  s.record('p', true, true, 0.0003)
  s.record('p', true, false, 0.002)
  s.record('made-up-1', false, false, 0.00001)
  s.record('made-up-2', false, false, 0.00001)
  t.same([...s.byPolicy.keys()], ['p', UNKNOWN_POLICY_LABEL])
  const p = s.byPolicy.get('p')!
  t.match(p, { allow: 2, deny: 1, unknownPolicy: 0, count: 3 })
  t.equal(p.buckets.length, DECISION_BUCKETS.length + 1)
  t.same(p.buckets.slice(0, 6), [1, 0, 0, 1, 0, 1], 'each in the first bucket whose bound it does not exceed')
  t.match(s.byPolicy.get(UNKNOWN_POLICY_LABEL), { allow: 0, deny: 0, unknownPolicy: 2 })
  s.record('p', true, true, 1)
  t.equal(p.buckets.at(-1), 1, 'above the largest bound: the last slot')
})

t.test('the registry shows them as prom-client would: a counter and a histogram', async t => {
  const stats = new AuthStats()
  stats.record('p', true, true, 0.00007)
  stats.record('p', true, false, 0.00007)
  stats.record('x', false, false, 0.3)
  const text = await createMetrics(stats).registry.metrics()
  t.match(text, '# TYPE conductor_auth_decisions_total counter')
  t.match(text, 'conductor_auth_decisions_total{policy="p",result="allow"} 1\n')
  t.match(text, 'conductor_auth_decisions_total{policy="p",result="deny"} 1\n')
  t.match(text, 'conductor_auth_decisions_total{policy="(unknown)",result="unknown_policy"} 1\n')
  t.match(text, '# TYPE conductor_auth_decision_seconds histogram')
  t.match(text, 'conductor_auth_decision_seconds_bucket{le="0.00005",policy="p"} 0\n')
  t.match(text, 'conductor_auth_decision_seconds_bucket{le="0.0001",policy="p"} 2\n')
  t.match(text, 'conductor_auth_decision_seconds_bucket{le="+Inf",policy="p"} 2\n')
  t.match(text, 'conductor_auth_decision_seconds_sum{policy="p"} 0.00014\n')
  t.match(text, 'conductor_auth_decision_seconds_count{policy="p"} 2\n')
  t.match(text, 'conductor_auth_decision_seconds_bucket{le="0.25",policy="(unknown)"} 0\n')
  t.match(text, 'conductor_auth_decision_seconds_bucket{le="+Inf",policy="(unknown)"} 1\n')
  t.notMatch(text, /result="deny"\} 0/, 'no zero lines for results never seen')
})
