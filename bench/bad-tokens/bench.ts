import { performance } from 'node:perf_hooks'
import { compilePolicies, PolicySet, type PolicyFile } from '../../policies/index.js'
import { makeKey, signToken } from '../../test/harness/jwt.js'

// bench/bad-tokens (issue 13 item 5): what a flood of bad JWTs costs as a policy grows. Each
// token claims iss "ci" and is signed by a key no entry holds, so it is refused; the policy
// has 1 JWT entry (issuer "ci"), or 31 (30 other issuers first, then "ci"), every key ES256
// like the tokens, so no entry is ruled out by its algorithm. Prints ms per run of N tokens.
// Env: BENCH_TOKENS (1500), BENCH_ROUNDS (5: the median is printed).

const N = Number(process.env.BENCH_TOKENS ?? '1500')
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '5')

function policy(entries: number): PolicySet {
  const bearer = Array.from({ length: entries }, (_, i) => ({
    public_key: makeKey('ES256').pem,
    issuer: i === entries - 1 ? 'ci' : `issuer-${i}`
  }))
  const data: PolicyFile = { match: [{ default_authorizations: { read: true }, bearer }] }
  const { policies, problems } = compilePolicies([{ name: 'p', file: 'p.json', data }])
  if (problems.length > 0) throw new Error(JSON.stringify(problems))
  return new PolicySet(policies)
}

const attacker = makeKey('ES256')
// Distinct tokens (distinct jti): nothing is served from a cache.
const tokens = await Promise.all(
  Array.from({ length: N }, async (_, i) => await signToken(attacker, { iss: 'ci', jti: `t${i}` }))
)

async function run(set: PolicySet): Promise<number> {
  const start = performance.now()
  for (const token of tokens) {
    const d = await set.decide('p', { credential: `Bearer ${token}` })
    if (d.status !== 401) throw new Error(`expected 401, got ${d.status}`)
  }
  return performance.now() - start
}

const rows: string[] = []
const sets = { 1: policy(1), 31: policy(31) }
await run(sets[1]) // warm-up: jose loaded, JIT
const times: Record<number, number[]> = { 1: [], 31: [] }
for (let r = 0; r < ROUNDS; r++) for (const n of [1, 31] as const) times[n].push(await run(sets[n]))
const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
for (const n of [1, 31] as const) {
  const ms = median(times[n])
  rows.push(`| ${n} | ${N} | ${ms.toFixed(0)} | ${((ms * 1000) / N).toFixed(1)} |`)
}
console.log(`Node ${process.version}, median of ${ROUNDS} interleaved rounds\n`)
console.log(['| JWT entries | bad tokens | ms | µs per token |', '|---:|---:|---:|---:|', ...rows].join('\n'))
console.log(`\nratio 31/1 = ${(median(times[31]) / median(times[1])).toFixed(2)}`)
