import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { startGatewayProcess } from '../../harness/gateway.js'
import { makeKey, signToken, type TestKey } from '../../harness/jwt.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

// Issue 16 item 7: a key removed from a JWK Set stops being trusted by the running gateway at
// the set's next refresh, although the gateway had verified (and cached) a token of that key
// and the allow built on it. The real gateway process, its /auth fast path, key sets served
// over loopback HTTP.

interface Jwks {
  url: string
  hits: () => number
  serve: (keys: TestKey[]) => void
}

async function jwksServer(t: Test, keys: TestKey[]): Promise<Jwks> {
  let hits = 0
  let current = keys
  const srv = createServer((_req, res) => {
    hits++
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
    }
  }
}

t.test('a key removed from a JWK Set is refused by the running gateway at the next refresh', async t => {
  const k1 = makeKey('ES256', 'k1')
  const k2 = makeKey('ES256', 'k2')
  const k3 = makeKey('ES256', 'k3')
  // "aged": refreshed by age (1 s). "kid": refreshed by a new kid after the cool-down (1 s),
  // long before its age (600 s).
  const aged = await jwksServer(t, [k1, k2])
  const byKid = await jwksServer(t, [k1])
  const root = tempDir(t)
  writeTree(root, {
    'etc/conductor/policies/aged.json': {
      match: [{ meta: { 'peer-id': 'idp' }, bearer: [{ jwks_url: aged.url, jwks_max_age_sec: 1 }] }]
    },
    'etc/conductor/policies/kid.json': {
      match: [
        {
          meta: { 'peer-id': 'idp' },
          bearer: [{ jwks_url: byKid.url, jwks_max_age_sec: 600, jwks_cooldown_sec: 1 }]
        }
      ]
    }
  })
  const { port } = await startGatewayProcess(t, { env: { CONDUCTOR_ROOT: root } })
  const auth = async (policy: string, token: string): Promise<[number, string | null, string | null]> => {
    const headers = { authorization: `Bearer ${token}` }
    const res = await fetch(`http://127.0.0.1:${port}/auth?policy=${policy}`, { headers })
    return [res.status, res.headers.get('x-conductor-peer-id'), res.headers.get('www-authenticate')]
  }
  const t1 = await signToken(k1, {}, { kid: 'k1' })
  const t2 = await signToken(k2, {}, { kid: 'k2' })
  const t3 = await signToken(k3, {}, { kid: 'k3' })
  const allowed: [number, string, null] = [200, 'idp', null]
  const refused: [number, null, string] = [401, null, 'Bearer realm="conductor", error="invalid_token"']

  // Refreshed by age.
  t.same(await auth('aged', t1), allowed, 'k1 token allowed')
  t.same(await auth('aged', t1), allowed, 'again (cached)')
  t.same(await auth('aged', t2), allowed, 'k2 token allowed')
  aged.serve([k2])
  await sleep(1100)
  t.same(await auth('aged', t1), refused, 'k1 removed: refused once the set is past its age')
  t.same(await auth('aged', t1), refused, 'and stays refused')
  t.same(await auth('aged', t2), allowed, 'k2, still in the set, allowed')
  t.ok(aged.hits() >= 2, 'the set was fetched again')

  // Refreshed by a new kid.
  t.same(await auth('kid', t1), allowed, 'k1 token allowed')
  t.same(await auth('kid', t1), allowed, 'again (cached)')
  byKid.serve([k3])
  t.same(await auth('kid', t1), allowed, 'the set is not refetched yet: k1 still trusted')
  await sleep(1100)
  t.same(await auth('kid', t3), allowed, 'a new kid after the cool-down refetches the set')
  t.equal(byKid.hits(), 2)
  t.same(await auth('kid', t1), refused, 'k1 removed by that refetch: refused at once')
})
