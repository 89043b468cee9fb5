import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { compilePolicies, PolicySet, type PolicyFile } from '../../../policies/index.js'
import { makeKey, signToken, type TestKey } from '../../harness/jwt.js'

// A key removed from a JWK Set stops being trusted at the set's next refresh: the verified
// tokens of that key and the allow decisions built on them are dropped, whether the refresh
// comes from the set's age (jwks_max_age_sec) or from an unknown kid (after the cool-down).

interface Jwks {
  url: string
  hits: () => number
  serve: (keys: TestKey[]) => void
  fail: (on: boolean) => void
}

/** A loopback JWKS server; `serve` changes the keys it answers with, `fail` makes it answer 500. */
async function jwksServer(t: Test, keys: TestKey[]): Promise<Jwks> {
  let hits = 0
  let current = keys
  let failing = false
  const srv = createServer((_req, res) => {
    hits++
    if (failing) {
      res.writeHead(500).end()
      return
    }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: current.map(k => k.jwk) }))
  })
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    srv.close()
  })
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/jwks.json`,
    hits: () => hits,
    serve: k => {
      current = k
    },
    fail: on => {
      failing = on
    }
  }
}

function build(match: PolicyFile['match'], now: () => number): PolicySet {
  const { policies, problems } = compilePolicies([{ name: 'p', file: 'p.json', data: { match } }], { now })
  if (problems.length > 0) throw new Error(JSON.stringify(problems))
  return new PolicySet(policies, [], now)
}

const bearer = (token: string): { credential: string } => ({ credential: `Bearer ${token}` })

t.test('a key removed from the set is refused once the set is due for a refetch (jwks_max_age_sec)', async t => {
  const k1 = makeKey('ES256', 'k1')
  const k2 = makeKey('ES256', 'k2')
  const jwks = await jwksServer(t, [k1, k2])
  let now = Date.now()
  const set = build([{ bearer: [{ jwks_url: jwks.url, jwks_max_age_sec: 60, jwks_cooldown_sec: 5 }] }], () => now)
  const entry = set.get('p')!.match[0]!.bearer![0]!
  if (entry.kind !== 'jwt') throw new Error('a JWT entry')
  const t1 = await signToken(k1, { exp: Math.floor(now / 1000) + 3600 }, { kid: 'k1' })
  const t2 = await signToken(k2, { exp: Math.floor(now / 1000) + 3600 }, { kid: 'k2' })

  t.equal((await set.decide('p', bearer(t1))).status, 200, 'k1 token allowed')
  t.equal((await set.decide('p', bearer(t2))).status, 200, 'k2 token allowed')
  t.equal(jwks.hits(), 1)
  const cachedAllow = set.decideNow('p', bearer(t1))
  t.notOk(cachedAllow instanceof Promise, 'a repeated allow comes from the decision cache')
  t.ok(
    !(cachedAllow instanceof Promise) && cachedAllow.validUntil! <= now + 60_000,
    "a decision built on a JWKS key holds until the set is due for a refetch, not until the token's exp"
  )

  jwks.serve([k2])
  now += 30_000
  t.equal((await set.decide('p', bearer(t1))).status, 200, 'before the refetch is due, the set as fetched holds k1')
  t.equal(jwks.hits(), 1, 'and nothing was fetched')

  now += 31_000
  const pending = set.decideNow('p', bearer(t1))
  t.ok(pending instanceof Promise, "past the set's age the cached allow is not used")
  const refused = await pending
  t.same([refused.allow, refused.status], [false, 401], 'k1 token refused once the set is refetched')
  t.match(refused.reason, /unknown kid/)
  t.equal(jwks.hits(), 2, 'one refetch')
  t.equal(entry.jwt.cached(t1), undefined, 'the verified k1 token is no longer cached')
  const before = entry.jwt.verifications
  t.equal((await set.decide('p', bearer(t2))).status, 200, 'k2, still in the set, still allowed')
  t.equal(entry.jwt.verifications, before, 'without a new signature check: its verified token was kept')
  t.equal(jwks.hits(), 2)
})

t.test('a refetch on an unknown kid drops a removed key at once, decision cache included', async t => {
  const k1 = makeKey('ES256', 'k1')
  const k2 = makeKey('RS256', 'k2')
  const jwks = await jwksServer(t, [k1])
  let now = Date.now()
  const entry = { jwks_url: jwks.url, jwks_max_age_sec: 600, jwks_cooldown_sec: 5 }
  const set = build([{ always: true, bearer: [entry] }], () => now)
  const t1 = await signToken(k1, {}, { kid: 'k1' })
  t.equal((await set.decide('p', bearer(t1))).status, 200)
  t.notOk(set.decideNow('p', bearer(t1)) instanceof Promise, 'cached allow')

  jwks.serve([k2])
  now += 6000
  t.equal(
    (await set.decide('p', bearer(await signToken(k2, {}, { kid: 'k2' })))).status,
    200,
    'a new kid after the cool-down refetches the set'
  )
  t.equal(jwks.hits(), 2)
  const again = set.decideNow('p', bearer(t1))
  t.ok(again instanceof Promise, 'the cached allow of the removed key is gone')
  t.equal((await again).status, 401, "the removed key's token is refused, long before jwks_max_age_sec")
})

t.test('a kid whose key material changed: tokens of the old key are refused', async t => {
  const old = makeKey('ES256', 'main')
  const rotated = makeKey('ES256', 'main')
  const jwks = await jwksServer(t, [old])
  let now = Date.now()
  const set = build([{ always: true, bearer: [{ jwks_url: jwks.url, jwks_max_age_sec: 10 }] }], () => now)
  const tOld = await signToken(old, {}, { kid: 'main' })
  t.equal((await set.decide('p', bearer(tOld))).status, 200)
  jwks.serve([rotated])
  now += 11_000
  t.equal((await set.decide('p', bearer(tOld))).status, 401, 'old key material, same kid: refused')
  t.equal((await set.decide('p', bearer(await signToken(rotated, {}, { kid: 'main' })))).status, 200, 'new key allowed')
})

t.test('a failed refetch keeps the keys (an outage of the key server locks nobody out)', async t => {
  const k1 = makeKey('ES256', 'k1')
  const jwks = await jwksServer(t, [k1])
  let now = Date.now()
  const set = build([{ always: true, bearer: [{ jwks_url: jwks.url, jwks_max_age_sec: 10 }] }], () => now)
  const t1 = await signToken(k1, {}, { kid: 'k1' })
  t.equal((await set.decide('p', bearer(t1))).status, 200)
  jwks.fail(true)
  now += 11_000
  t.equal((await set.decide('p', bearer(t1))).status, 200, 'still allowed')
  t.equal(jwks.hits(), 2, 'after one refetch attempt')
  t.match(set.get('p')!.jwks[0]!.lastError, /HTTP 500/)
})
