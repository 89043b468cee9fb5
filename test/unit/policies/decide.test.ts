import t from 'tap'
import { compilePolicies, PolicySet, sha256, type PolicyFile, type AuthRequest } from '../../../policies/index.js'

// Table-driven tests of the matcher grammar (all/any/none/bearer/origin/policy/always/never/skip),
// meta and authorizations, with static tokens (JWTs are in policies-jwt.test.ts).

const TOKEN_A = 'token-a-0123456789abcdef'
const TOKEN_B = 'token-b-0123456789abcdef'
const TOKEN_C = 'token-c-0123456789abcdef'

function set(files: Record<string, PolicyFile>): PolicySet {
  const { policies, problems } = compilePolicies(
    Object.entries(files).map(([name, data]) => ({ name, file: `${name}.json`, data }))
  )
  if (problems.length > 0) throw new Error(JSON.stringify(problems))
  return new PolicySet(policies)
}

const bearer = (token: string): string => `Bearer ${token}`

const policies = set({
  peers: {
    match: [
      {
        any: [
          {
            meta: { 'peer-id': '1', 'peer-hostname': 'peer-1.example.org' },
            default_authorizations: { 'peer-list-read': true, 'service-write': true },
            bearer: [{ token: TOKEN_A }]
          },
          {
            meta: { 'peer-id': '2' },
            default_authorizations: { 'peer-list-read': true, 'service-write': true },
            authorizations: { 'service-write': false },
            bearer: [{ token_sha256: sha256(TOKEN_B).toString('hex') }]
          },
          { never: true, bearer: [{ token: TOKEN_C }] }
        ]
      }
    ]
  },
  open: { match: [{ always: true, meta: { subject: 'anyone' }, authorizations: { read: true } }] },
  closed: { match: [{ never: true }, { meta: { x: '1' } }, { never: false, skip: false }] },
  cors: {
    match: [
      {
        all: [{ origin: ['https://app.example.org'] }, { bearer: [{ token: TOKEN_A }] }],
        authorizations: { read: true }
      }
    ]
  },
  notC: {
    match: [
      {
        all: [{ always: true }, { skip: true, never: true }],
        none: [{ bearer: [{ token: TOKEN_C }] }],
        authorizations: { read: true }
      }
    ]
  },
  alias: { match: [{ policy: 'peers' }] },
  mapped: { match: [{ policy: { name: 'peers', map: { 'service-write': 'deploy' } } }] },
  skipped: { match: [{ skip: true, always: true }] }
})

const cases: Array<
  [string, string, AuthRequest, { status: number; authz?: string[]; meta?: Record<string, string>; reason?: RegExp }]
> = [
  [
    'static token allows',
    'peers',
    { credential: bearer(TOKEN_A) },
    {
      status: 200,
      authz: ['peer-list-read', 'service-write'],
      meta: { 'peer-id': '1', 'peer-hostname': 'peer-1.example.org' }
    }
  ],
  [
    'sha256 token allows, own authorizations override defaults',
    'peers',
    { credential: bearer(TOKEN_B) },
    { status: 200, authz: ['peer-list-read'], meta: { 'peer-id': '2' } }
  ],
  [
    'requested authorization granted',
    'peers',
    { credential: bearer(TOKEN_A), authorization: 'service-write' },
    { status: 200 }
  ],
  [
    'requested authorization not granted is 403',
    'peers',
    { credential: bearer(TOKEN_B), authorization: 'service-write' },
    { status: 403, reason: /does not grant "service-write"/ }
  ],
  ['never disables an entry', 'peers', { credential: bearer(TOKEN_C) }, { status: 401 }],
  ['no credential is 401', 'peers', {}, { status: 401 }],
  ['wrong token is 401', 'peers', { credential: bearer('wrong-token-0123456789') }, { status: 401 }],
  ['Basic scheme is 401', 'peers', { credential: 'Basic dXNlcjpwYXNz' }, { status: 401, reason: /not a Bearer/ }],
  ['scheme is case-insensitive', 'peers', { credential: `bEaReR ${TOKEN_A}` }, { status: 200 }],
  [
    'token with a prefix of a valid one is refused',
    'peers',
    { credential: bearer(TOKEN_A.slice(0, -1)) },
    { status: 401 }
  ],
  ['token with bad characters is refused', 'peers', { credential: bearer(TOKEN_A + '"') }, { status: 401 }],
  [
    'oversized header is refused',
    'peers',
    { credential: bearer('a'.repeat(65536)) },
    { status: 401, reason: /longer than/ }
  ],
  ['always matches with no credential', 'open', {}, { status: 200, authz: ['read'], meta: { subject: 'anyone' } }],
  ['never and empty matchers never match', 'closed', { credential: bearer(TOKEN_A) }, { status: 403 }],
  [
    'origin and bearer both required (all)',
    'cors',
    { credential: bearer(TOKEN_A), origin: 'https://APP.example.org' },
    { status: 200, authz: ['read'] }
  ],
  [
    'origin mismatch denies',
    'cors',
    { credential: bearer(TOKEN_A), origin: 'https://evil.example.org' },
    { status: 403 }
  ],
  ['missing origin denies', 'cors', { credential: bearer(TOKEN_A) }, { status: 403 }],
  ['none: token C excluded', 'notC', { credential: bearer(TOKEN_C) }, { status: 403 }],
  ['none: others pass; skip is neutral in all', 'notC', { credential: bearer(TOKEN_A) }, { status: 200 }],
  [
    "policy reference returns the other policy's entry",
    'alias',
    { credential: bearer(TOKEN_A) },
    {
      status: 200,
      authz: ['peer-list-read', 'service-write'],
      meta: { 'peer-id': '1', 'peer-hostname': 'peer-1.example.org' }
    }
  ],
  [
    'policy reference with map renames and drops',
    'mapped',
    { credential: bearer(TOKEN_A) },
    { status: 200, authz: ['deploy'] }
  ],
  ['skipped entry does not match', 'skipped', {}, { status: 403 }],
  ['unknown policy is 403', 'nope', { credential: bearer(TOKEN_A) }, { status: 403, reason: /unknown policy/ }]
]

for (const [name, policy, req, want] of cases) {
  t.test(name, async t => {
    const d = await policies.decide(policy, req)
    t.equal(d.status, want.status, `status (${d.reason})`)
    t.equal(d.allow, want.status === 200)
    if (want.authz !== undefined) t.same(d.authorizations, want.authz)
    if (want.meta !== undefined) t.same(d.meta, want.meta)
    if (want.reason !== undefined) t.match(d.reason, want.reason)
    for (const secret of [TOKEN_A, TOKEN_B, TOKEN_C])
      t.notOk(JSON.stringify(d).includes(secret), 'decision never carries the token')
    if (d.status === 401) t.match(d.challenge, /^Bearer realm="conductor"/)
  })
}

t.test('references to missing policies and cycles are reported, others kept', async t => {
  const { policies: ok, problems } = compilePolicies([
    { name: 'a', file: 'a.json', data: { match: [{ policy: 'b' }] } },
    { name: 'b', file: 'b.json', data: { match: [{ policy: 'a' }] } },
    { name: 'c', file: 'c.json', data: { match: [{ policy: 'missing' }] } },
    { name: 'd', file: 'd.json', data: { match: [{ always: true }] } },
    { name: 'e', file: 'e.json', data: { match: [{ policy: 'c' }] } }
  ])
  t.same([...ok.keys()], ['d'])
  t.match(
    problems.map(p => `${p.file}: ${p.jsonPath}: ${p.message}`).join('\n'),
    /a\.json: \/match\/0\/policy: policy references form a cycle: a -> b -> a/
  )
  t.match(problems.map(p => p.message).join('\n'), /policy "missing" does not exist/)
  t.match(problems.map(p => p.message).join('\n'), /policy "c" does not exist or is invalid/)
})

t.test('allow decisions are reused for a repeated request; denials are recomputed', async t => {
  const first = await policies.decide('peers', { credential: bearer(TOKEN_A) })
  t.equal(
    await policies.decide('peers', { credential: bearer(TOKEN_A) }),
    first,
    'same decision object: one hash and one lookup'
  )
  t.not(
    await policies.decide('peers', { credential: bearer(TOKEN_A), authorization: 'peer-list-read' }),
    first,
    'the requested authorization is part of the key'
  )
  const denied = await policies.decide('peers', { credential: bearer(TOKEN_B), authorization: 'service-write' })
  t.not(await policies.decide('peers', { credential: bearer(TOKEN_B), authorization: 'service-write' }), denied)
})

t.test('decideNow: a cached allow and an unknown policy come back at once, anything else as a promise', async t => {
  const fresh = set({ p: { match: [{ meta: { 'peer-id': '1' }, bearer: [{ token: TOKEN_A }] }] } })
  const first = fresh.decideNow('p', { credential: bearer(TOKEN_A) })
  t.ok(first instanceof Promise, 'the first request is evaluated')
  const allowed = await first
  t.equal(allowed.allow, true)
  const again = fresh.decideNow('p', { credential: bearer(TOKEN_A) })
  t.notOk(again instanceof Promise, 'a repeated credential: no promise')
  t.equal(again, allowed, 'the same frozen decision')
  t.ok(Object.isFrozen(allowed) && Object.isFrozen(allowed.meta), 'shared, so frozen')
  t.ok(
    fresh.decideNow('p', { credential: bearer(TOKEN_A), origin: 'https://x.example' }) instanceof Promise,
    'another origin is another key: evaluated'
  )
  const unknown = fresh.decideNow('nope', { credential: bearer(TOKEN_A) })
  t.notOk(unknown instanceof Promise)
  t.match(unknown, { allow: false, status: 403, reason: 'unknown policy' })
  // Denials are never cached: each one is evaluated again (a refused token after a JWKS refresh...).
  for (let i = 0; i < 2; i++) {
    const denied = fresh.decideNow('p', { credential: bearer(TOKEN_B) })
    t.ok(denied instanceof Promise, `denial ${i + 1}: evaluated`)
    t.equal((await denied).status, 401)
  }
  t.equal(await fresh.decide('p', { credential: bearer(TOKEN_A) }), allowed, 'decide() gives the cached one too')
})
