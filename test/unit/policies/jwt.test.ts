import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { compilePolicies, JwksCache, PolicySet, type PolicyFile } from '../../../policies/index.js'
import { startHugeJwks } from '../../harness/huge-jwks.js'
import { waitFor } from '../../harness/ports.js'
import {
  hsWithPublicKeyToken,
  makeKey,
  noneToken,
  nowSec,
  rawSigned,
  signToken,
  tamper,
  tamperPayload
} from '../../harness/jwt.js'

// JWT verification, table-driven: good tokens for each key form and algorithm, and every
// attack of issue 5 refused with a 401 whose reason names the check (never the token).

const rs = makeKey('RS256')
const es = makeKey('ES256')
const ed = makeKey('EdDSA')
const ps = makeKey('PS256')
const other = makeKey('ES256')
const audIss = { issuer: 'https://issuer.example', audience: 'conductor' }

function build(match: PolicyFile['match'], now?: () => number): PolicySet {
  const { policies, problems } = compilePolicies([{ name: 'p', file: 'p.json', data: { match } }], { now })
  if (problems.length > 0) throw new Error(JSON.stringify(problems))
  return new PolicySet(policies, [], now)
}

const policy = build([
  {
    meta: { 'peer-id': 'ci' },
    default_authorizations: { read: true, write: true },
    bearer: [
      { public_key: rs.pem, ...audIss },
      { public_key: es.jwk as never, ...audIss },
      { jwt_alg: 'EdDSA', jwt_key_base64: ed.derB64, ...audIss },
      { public_key: ps.pem, jwt_alg: 'PS256', ...audIss, max_lifetime_sec: 600 }
    ]
  }
])

const good = { iss: audIss.issuer, aud: audIss.audience }
type Case = [string, () => Promise<string> | string, number, RegExp?]
const cases: Case[] = [
  ['RS256 PEM', async () => await signToken(rs, good), 200],
  ['ES256 JWK', async () => await signToken(es, good), 200],
  ['EdDSA jwt_alg + jwt_key_base64 (Go form)', async () => await signToken(ed, good), 200],
  ['PS256 PEM with jwt_alg', async () => await signToken(ps, good), 200],
  ['alg none', () => noneToken(good), 401, /algorithm none is never accepted/],
  ['HS256 keyed with the RSA public key', () => hsWithPublicKeyToken(rs, good), 401, /HS256 is never accepted/],
  [
    'HS256 keyed with the EC public key and an injected kid',
    () => hsWithPublicKeyToken(es, good, { kid: '../../../dev/null' }),
    401,
    /never accepted/
  ],
  [
    'header says RS256, signed with the EC key',
    () => rawSigned(es, { alg: 'RS256' }, { ...good, exp: nowSec() + 60 }),
    401,
    /refused|signature/
  ],
  [
    'RS256 token with an unknown kid signed by another key',
    async () => await signToken(makeKey('RS256'), good, { kid: 'unknown' }),
    401,
    /signature verification failed/
  ],
  ['signed by a key not in the policy', async () => await signToken(other, good), 401, /signature/],
  [
    'expired',
    async () => await signToken(es, { ...good, iat: nowSec() - 600, exp: nowSec() - 120 }),
    401,
    /"exp" claim/
  ],
  [
    'expired within the clock skew is still good',
    async () => await signToken(es, { ...good, iat: nowSec() - 600, exp: nowSec() - 10 }),
    200
  ],
  ['nbf in the future', async () => await signToken(es, { ...good, nbf: nowSec() + 120 }), 401, /"nbf" claim/],
  ['iat in the future', async () => await signToken(es, { ...good, iat: nowSec() + 120 }), 401, /iat is in the future/],
  ['wrong audience', async () => await signToken(es, { ...good, aud: 'someone-else' }), 401, /"aud" claim/],
  [
    'wrong issuer',
    async () => await signToken(es, { ...good, iss: 'https://evil.example' }),
    401,
    /iss is not one of this entry's issuers/
  ],
  ['no exp', async () => await signToken(es, { ...good, exp: undefined }), 401, /"exp" claim/],
  [
    'lifetime above max_lifetime_sec',
    async () => await signToken(ps, { ...good, exp: nowSec() + 3600 }),
    401,
    /lifetime/
  ],
  [
    'lifetime above the 24 h default',
    async () => await signToken(es, { ...good, exp: nowSec() + 2 * 86400 }),
    401,
    /lifetime/
  ],
  ['tampered signature', async () => tamper(await signToken(es, good)), 401, /signature/],
  ['tampered payload', async () => tamperPayload(await signToken(rs, good)), 401, /signature/],
  ['malformed base64 header', () => 'eyJhbGciOiJFUzI1NiJ9~~~.eyJ9.abc', 401, /b64token|base64/],
  [
    'malformed base64 payload',
    async () => {
      const [h, , s] = (await signToken(es, good)).split('.')
      return `${h}.%%%%.${s}`
    },
    401,
    /b64token|base64/
  ],
  ['header not JSON', () => `${Buffer.from('nope').toString('base64url')}.e30.c2ln`, 401, /JSON/],
  ['two parts only', () => 'eyJhbGciOiJFUzI1NiJ9.e30', 401],
  ['64 KiB token', () => 'a'.repeat(65536), 401, /longer than/]
]

for (const [name, make, status, reason] of cases) {
  t.test(name, async t => {
    const token = await make()
    const d = await policy.decide('p', { credential: `Bearer ${token}` })
    t.equal(d.status, status, d.reason)
    if (reason !== undefined) t.match(d.reason, reason)
    t.notOk(
      d.reason.includes(token) || JSON.stringify(d).includes(token.split('.')[2] || token),
      'the token never appears in the decision'
    )
    if (status === 200) t.same(d.authorizations, ['read', 'write'])
  })
}

t.test('algorithms are fixed by the key; a mismatching jwt_alg is a load error', async t => {
  const { problems } = compilePolicies([
    { name: 'a', file: 'a.json', data: { match: [{ bearer: [{ public_key: es.pem, jwt_alg: 'RS256' }] }] } },
    { name: 'b', file: 'b.json', data: { match: [{ bearer: [{ jwt_alg: 'ES256', jwt_key_base64: rs.derB64 }] }] } },
    {
      name: 'c',
      file: 'c.json',
      data: { match: [{ bearer: [{ public_key: rs.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() }] }] }
    },
    {
      name: 'd',
      file: 'd.json',
      data: { match: [{ bearer: [{ public_key: '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----' }] }] }
    }
  ])
  const lines = problems.map(p => `${p.file}: ${p.jsonPath}: ${p.message}`)
  t.match(lines[0], /^a\.json: \/match\/0\/bearer\/0\/public_key: jwt_alg RS256 does not fit/)
  t.match(lines[1], /^b\.json: \/match\/0\/bearer\/0\/jwt_key_base64: jwt_alg ES256 does not fit an RSA key/)
  t.match(lines[2], /private key/)
  t.match(lines[3], /not a valid PEM public key/)
  t.notOk(lines.join('\n').includes('BEGIN'), 'key material is not echoed')
})

t.test('claims narrow authorizations, never widen; sub becomes the subject', async t => {
  const p = build([{ default_authorizations: { read: true, write: true }, bearer: [{ public_key: es.pem }] }])
  const narrowed = await p.decide('p', {
    credential: `Bearer ${await signToken(es, { authorizations: ['read', 'admin'] })}`
  })
  t.same(narrowed.authorizations, ['read'], 'admin is not granted by a claim')
  t.equal(narrowed.subject, 'alice')
  const denied = await p.decide('p', {
    credential: `Bearer ${await signToken(es, { authorizations: 'read' })}`,
    authorization: 'write'
  })
  t.equal(denied.status, 403)
  const bad = await p.decide('p', { credential: `Bearer ${await signToken(es, { authorizations: 7 })}` })
  t.equal(bad.status, 401)
})

t.test('a verified token is cached until exp, then refused', async t => {
  let now = Date.now()
  const p = build([{ always: true, bearer: [{ public_key: es.pem, clock_skew_sec: 0 }] }], () => now)
  const token = await signToken(es, { iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 60 })
  t.equal((await p.decide('p', { credential: `Bearer ${token}` })).status, 200)
  const entry = p.get('p')!.match[0]!.bearer![0]!
  t.ok(entry.kind === 'jwt' && entry.jwt.cached(token)?.ok, 'second use is a cache hit')
  now += 61_000
  t.equal((await p.decide('p', { credential: `Bearer ${token}` })).status, 401, 'expired while cached')
})

t.test('JWKS: keys by kid, refetch on unknown kid with a cool-down', async t => {
  const k1 = makeKey('ES256', 'k1')
  const k2 = makeKey('RS256', 'k2')
  let keys = [k1.jwk]
  let hits = 0
  const srv = createServer((_req, res) => {
    hits++
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys }))
  })
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    srv.close()
  })
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/jwks.json`
  let now = Date.now()
  const p = build([{ always: true, bearer: [{ jwks_url: url, jwks_cooldown_sec: 5 }] }], () => now)
  const ask = async (token: string): Promise<number> => (await p.decide('p', { credential: `Bearer ${token}` })).status

  t.equal(await ask(await signToken(k1, {}, { kid: 'k1' })), 200, 'known kid')
  t.equal(hits, 1)
  keys = [k1.jwk, k2.jwk]
  const t2 = await signToken(k2, {}, { kid: 'k2' })
  t.equal(await ask(t2), 401, 'new kid within the cool-down is refused')
  t.equal(await ask(await signToken(k1, {}, { kid: 'injected' })), 401, 'made-up kid refused')
  t.equal(hits, 1, 'no refetch during the cool-down, however many unknown kids')
  now += 6000
  t.equal(await ask(t2), 200, 'after the cool-down an unknown kid refetches the set')
  t.equal(hits, 2)
  t.equal(await ask(hsWithPublicKeyToken(k2, {}, { kid: 'k2' })), 401, 'HS256 with a JWKS key refused')
  t.equal(
    await ask(rawSigned(k1, { alg: 'ES384', kid: 'k1' }, { exp: nowSec() + 60 })),
    401,
    "alg other than the key's refused"
  )
})

t.test('subject, issuer lists and audience lists are enforced per entry', async t => {
  const p = build([
    {
      always: true,
      bearer: [
        {
          public_key: es.pem,
          subject: 'deployer',
          issuer: ['https://a.example', 'https://b.example'],
          audience: ['x', 'y']
        }
      ]
    }
  ])
  const ask = async (claims: Record<string, unknown>): Promise<number> =>
    (await p.decide('p', { credential: `Bearer ${await signToken(es, claims)}` })).status
  t.equal(await ask({ sub: 'deployer', iss: 'https://b.example', aud: 'y' }), 200)
  t.equal(await ask({ sub: 'alice', iss: 'https://b.example', aud: 'y' }), 401, 'wrong sub')
  t.equal(await ask({ sub: 'deployer', iss: 'https://c.example', aud: 'y' }), 401, 'issuer not in the list')
  t.equal(
    await ask({ sub: 'deployer', iss: 'https://a.example', aud: ['z', 'x'] }),
    200,
    'one of the token audiences is accepted'
  )
  t.equal(await ask({ sub: 'deployer', iss: 'https://a.example', aud: 'z' }), 401, 'audience not in the list')
})

t.test('an allow built on a JWT carries its verified claims, frozen; other allows carry none (issue 13)', async t => {
  const STATIC = 'static-token-0123456789abcdef'
  const p = build([
    { meta: { 'peer-id': 'jwt' }, default_authorizations: { read: true }, bearer: [{ public_key: es.pem }] },
    { meta: { 'peer-id': 'static' }, default_authorizations: { read: true }, bearer: [{ token: STATIC }] }
  ])
  const token = await signToken(es, { jti: 'j-1', conductor_command: 'db:migrate', nested: { a: [1] } })
  const first = await p.decide('p', { credential: `Bearer ${token}`, authorization: 'read' })
  t.equal(first.allow, true)
  t.match(first.claims, { jti: 'j-1', conductor_command: 'db:migrate', sub: 'alice', nested: { a: [1] } })
  t.ok(
    Object.isFrozen(first.claims) && Object.isFrozen((first.claims!.nested as { a: unknown[] }).a),
    'deep-frozen: a caller cannot alter what others read'
  )
  const cachedToken = await p.decide('p', { credential: `Bearer ${token}`, authorization: 'write' })
  t.equal(cachedToken.claims, first.claims, 'from the verified-token cache: the same claims')
  t.equal((await p.decide('p', { credential: `Bearer ${STATIC}` })).claims, undefined, 'a static token has no claims')
  const nested = build([
    { all: [{ always: true }, { any: [{ bearer: [{ public_key: es.pem }] }] }], authorizations: { read: true } }
  ])
  t.match(
    (await nested.decide('p', { credential: `Bearer ${token}` })).claims,
    { jti: 'j-1' },
    'claims pass through all/any'
  )
  const viaPolicy = compilePolicies([
    {
      name: 'inner',
      file: 'inner.json',
      data: { match: [{ bearer: [{ public_key: es.pem }], authorizations: { x: true } }] }
    },
    { name: 'outer', file: 'outer.json', data: { match: [{ policy: { name: 'inner', map: { x: 'read' } } }] } }
  ])
  t.match(
    (await new PolicySet(viaPolicy.policies).decide('outer', { credential: `Bearer ${token}` })).claims,
    { jti: 'j-1' },
    'and through a mapped policy reference'
  )
})

t.test('one spelling per credential: exactly one space after Bearer, no padding in a JWT (issue 13)', async t => {
  const p = build([
    { always: true, bearer: [{ public_key: es.pem }, { token: 'c3RhdGljLXRva2VuLXdpdGgtcGFkZGluZw==' }] }
  ])
  const token = await signToken(es, {})
  const ask = async (credential: string): Promise<{ status: number; reason: string }> =>
    await p.decide('p', { credential })
  t.equal((await ask(`Bearer ${token}`)).status, 200)
  t.equal((await ask(`bearer ${token}`)).status, 200, 'the scheme is case-insensitive (RFC 7235)')
  t.match(await ask(`Bearer  ${token}`), { status: 401, reason: /exactly one space/ })
  t.match(
    await ask(`Bearer ${token}==`),
    { status: 401, reason: /unpadded base64url/ },
    'a padded signature, which jose would accept'
  )
  t.match(await ask(`Bearer ${token}=`), { status: 401 })
  const [h, pl, s] = token.split('.')
  t.match(await ask(`Bearer ${h}==.${pl}.${s}`), { status: 401 }, 'padded header')
  t.equal(
    (await ask('Bearer c3RhdGljLXRva2VuLXdpdGgtcGFkZGluZw==')).status,
    200,
    'a static token may end in "=" (RFC 6750 b64token)'
  )
})

t.test("pin_subject: the matcher's meta.subject is the subject, whatever sub the key holder signs", async t => {
  const forged = await signToken(es, { sub: 'admin' })
  const jwt = { bearer: [{ public_key: es.pem }] }
  const files: Record<string, PolicyFile['match']> = {
    loose: [{ meta: { subject: 'ci-bot' }, ...jwt }],
    pinned: [{ meta: { subject: 'ci-bot' }, pin_subject: true, ...jwt }],
    // The pin holds when a JWT is merged after it (all), and through a policy reference.
    merged: [{ all: [{ meta: { subject: 'ops' }, pin_subject: true, always: true }, jwt] }],
    outer: [{ meta: { subject: 'outer' }, pin_subject: true, policy: 'loose' }],
    inner: [{ all: [{ policy: 'pinned' }, jwt] }]
  }
  const sources = Object.entries(files).map(([name, match]) => ({ name, file: `${name}.json`, data: { match } }))
  const { policies, problems } = compilePolicies(sources)
  t.same(problems, [])
  const set = new PolicySet(policies)
  const subject = async (name: string): Promise<string | undefined> =>
    (await set.decide(name, { credential: `Bearer ${forged}` })).subject
  t.equal(await subject('loose'), 'admin', 'without the pin a JWT sub replaces meta.subject (as documented)')
  t.equal(await subject('pinned'), 'ci-bot')
  t.equal(await subject('merged'), 'ops')
  t.equal(await subject('outer'), 'outer')
  t.equal(await subject('inner'), 'ci-bot')
})

t.test('JWKS: a key set over 512 KiB is refused without reading it whole (real server, 64 MiB body)', async t => {
  const huge = await startHugeJwks(t)
  for (const url of [huge.url, `${huge.url}?declared`]) {
    const before = { bytes: huge.served.bytes, closed: huge.served.closed }
    const jwks = new JwksCache(url)
    t.equal(await jwks.get('k1'), undefined, 'no key')
    t.match(jwks.lastError, /key set larger than 524288 bytes/)
    await waitFor('the server sees the connection closed', () => huge.served.closed > before.closed)
    const read = huge.served.bytes - before.bytes
    t.ok(read < 16 * 1024 * 1024, `${url}: the fetch stopped early (${read} bytes of 64 MiB sent, socket buffers too)`)
  }
})
