import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { importPKCS8, SignJWT } from 'jose'
import { compilePolicies, loadPolicySchemas, PolicySet, type PolicyFile } from '../../../../policies/index.js'
import { isManagedPolicy, liveInvites, renderPolicies } from '../../../../conductor/cluster/policy.js'
import type { InviteRecord, PeerRecord } from '../../../../conductor/cluster/records.js'

// The peers policy as the cluster renders it (conductor/cluster/policy.ts): the seed's entry
// shape, invites that may only join, and the decisions the gateway then gives, with real keys.

const NOW = Date.parse('2026-12-05T10:00:00Z')
const key = (type: 'ec' | 'ed25519'): { pem: string; priv: string } => {
  const k = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')
  return {
    pem: k.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    priv: k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  }
}
const a = key('ec')
const b = key('ec')
const inv = key('ed25519')
const full = { 'peer-list-read': true, 'peer-list-write': true, 'service-write': true }
const members: PeerRecord[] = [
  { id: 'b', hostname: 'b.example', public_key: b.pem, authorizations: full, policy: 'peers' },
  { id: 'a', hostname: 'a.example', public_key: a.pem, authorizations: { 'peer-list-read': true }, policy: 'peers' },
  { id: 'ci', hostname: 'ci.example', token_sha256: ['0'.repeat(64)], authorizations: { deploy: true }, policy: 'ops' }
]
const invites: InviteRecord[] = [
  { id: 'live', public_key: inv.pem, created_at: '2026-12-05T09:00:00Z', expires_at: '2026-12-05T11:00:00Z' },
  { id: 'old', public_key: inv.pem, created_at: '2026-12-01T09:00:00Z', expires_at: '2026-12-01T10:00:00Z' }
]

const rendered = renderPolicies({ audience: ['me.example'], members, invites, now: NOW })

t.test(
  "the seed's shape: an any of entries with peer-id/peer-hostname meta, default_authorizations, credentials",
  async t => {
    t.same([...rendered.keys()].sort(), ['ops', 'peers'], 'one file per policy a record names')
    const peers = JSON.parse(rendered.get('peers')!) as PolicyFile
    const { policyFileSchema } = await loadPolicySchemas()
    t.ok(policyFileSchema.safeParse(peers).success, 'a valid policy file')
    const [wrapper] = peers.match
    t.same(
      wrapper!.default_authorizations,
      { 'peer-add': true },
      'every entry may reach add-peer, which tells callers apart'
    )
    const entries = wrapper!.any!
    t.same(
      entries.map(e => e.meta),
      [
        { 'peer-id': 'a', 'peer-hostname': 'a.example' },
        { 'peer-id': 'b', 'peer-hostname': 'b.example' },
        { 'peer-invite': 'live' }
      ],
      'peers sorted by id, then the live invite; the invite expired days ago is gone'
    )
    t.same(entries[1]!.default_authorizations, full)
    t.match(entries[1]!.bearer![0], { issuer: 'b', subject: 'b', audience: ['me.example'], max_lifetime_sec: 300 })
    t.same(entries[2]!.default_authorizations, { 'peer-join': true }, 'an invite grants joining only')
    t.notOk('peer-hostname' in entries[2]!.meta!, 'an invite is not a peer (no peer-hostname)')
    t.match(JSON.parse(rendered.get('ops')!), {
      match: [{ any: [{ meta: { 'peer-id': 'ci' }, bearer: [{ token_sha256: '0'.repeat(64) }] }] }]
    })
    t.equal(
      renderPolicies({ audience: ['me.example'], members, invites, now: NOW }).get('peers'),
      rendered.get('peers'),
      'same input, same bytes'
    )
  }
)

t.test('decisions: peers by their authorizations, invites only to join, tokens for another host refused', async t => {
  const { policies, problems } = compilePolicies(
    [...rendered].map(([name, text]) => ({ name, file: `${name}.json`, data: JSON.parse(text) }))
  )
  t.same(problems, [])
  const set = new PolicySet(policies)
  const sign = async (priv: string, alg: 'ES256' | 'EdDSA', iss: string, sub: string, aud: string): Promise<string> => {
    const now = Math.floor(Date.now() / 1000)
    return await new SignJWT({})
      .setProtectedHeader({ alg })
      .setIssuer(iss)
      .setSubject(sub)
      .setAudience(aud)
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(await importPKCS8(priv, alg))
  }
  const asB = `Bearer ${await sign(b.priv, 'ES256', 'b', 'b', 'me.example')}`
  const asA = `Bearer ${await sign(a.priv, 'ES256', 'a', 'a', 'me.example')}`
  const asInvite = `Bearer ${await sign(inv.priv, 'EdDSA', 'invite-live', 'newcomer', 'me.example')}`
  const cases: Array<[string, string, string, number]> = [
    ['b may write the peer list', asB, 'peer-list-write', 200],
    ["b passes add-peer's gate", asB, 'peer-add', 200],
    ['a may only read', asA, 'peer-list-write', 403],
    ['a may read', asA, 'peer-list-read', 200],
    ["a passes add-peer's gate (add-peer itself then refuses: no peer-list-write)", asA, 'peer-add', 200],
    ["the invite passes add-peer's gate", asInvite, 'peer-add', 200],
    ['the invite may not list', asInvite, 'peer-list-read', 403],
    ['the invite may not write', asInvite, 'peer-list-write', 403],
    ['the invite may not write services', asInvite, 'service-write', 403],
    [
      'a token b made for another host',
      `Bearer ${await sign(b.priv, 'ES256', 'b', 'b', 'other.example')}`,
      'peer-list-read',
      401
    ],
    ["b's key claiming to be a", `Bearer ${await sign(b.priv, 'ES256', 'a', 'a', 'me.example')}`, 'peer-list-read', 401]
  ]
  for (const [name, credential, authorization, status] of cases) {
    const d = await set.decide('peers', { credential, authorization })
    t.equal(d.status, status, `${name}: ${d.reason}`)
  }
  const d = await set.decide('peers', { credential: asInvite })
  t.same(
    [d.meta, d.subject],
    [{ 'peer-invite': 'live' }, 'newcomer'],
    "the invite's decision: its id, and the peer id it signed as subject"
  )
})

t.test("invites stay a day after they expired or were used; managed files are told from the operator's", async t => {
  const used = { ...invites[0]!, used_at: '2026-12-05T09:30:00Z' }
  t.same(liveInvites([used], NOW).length, 1, 'used 30 min ago: still there, so its holder is told it was used')
  t.same(liveInvites([used], NOW + 25 * 3600_000).length, 0, 'a day later: gone')
  t.ok(isManagedPolicy(undefined), 'an absent file may be written')
  t.ok(isManagedPolicy(rendered.get('peers')))
  t.notOk(isManagedPolicy('{"match": []}'), "an operator's file is never written")
  t.notOk(isManagedPolicy('not json'))
})
