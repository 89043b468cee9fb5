import { sign } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import {
  compilePolicies,
  decide,
  type CompiledPolicy,
  type Decision,
  type PolicyFile
} from '../../../policies/index.js'
import { makeKey, nowSec, rawSigned, signToken, tamper, type TestKey } from '../../harness/jwt.js'

// Issue 13 item 5: JWT entries are picked by the token's unverified iss before any signature
// check. The hints may only skip entries that would refuse the token anyway: every decision
// (allow, status, matched entry, subject, authorizations, meta) must be the one made with
// every entry verified, for good tokens, bad ones and malformed ones alike.

const es = makeKey('ES256')
const es2 = makeKey('ES256')
const rs = makeKey('RS256')
const ed = makeKey('EdDSA')
const idp = makeKey('ES256', 'idp-1')
const attacker = makeKey('ES256')

const b64u = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
const bearer = (token: string): { credential: string } => ({ credential: `Bearer ${token}` })

/** A JWKS server holding the idp key; `hits` counts its fetches. */
async function idpJwks(t: Test): Promise<{ url: string; hits: () => number }> {
  let hits = 0
  const srv: Server = createServer((_req, res) => {
    hits++
    res.end(JSON.stringify({ keys: [idp.jwk] }))
  })
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    srv.close()
  })
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/jwks.json`, hits: () => hits }
}

function compile(data: PolicyFile): CompiledPolicy {
  const r = compilePolicies([{ name: 'p', file: 'p.json', data }])
  if (r.problems.length > 0) throw new Error(JSON.stringify(r.problems))
  return r.policies.get('p')!
}

/** Signature checks made by every JWT entry of a policy. */
function verifications(p: CompiledPolicy): number {
  let n = 0
  const walk = (nodes: CompiledPolicy['match']): void => {
    for (const m of nodes) {
      for (const b of m.bearer ?? []) if (b.kind === 'jwt') n += b.jwt.verifications
      walk([...(m.all ?? []), ...(m.any ?? []), ...(m.none ?? [])])
    }
  }
  walk(p.match)
  return n
}

/** A compact JWS over `payload` (base64url text, taken as is) signed by `key` (ES256). */
function signedPayload(key: TestKey, payload: string): string {
  const input = `${b64u({ alg: key.alg })}.${payload}`
  const signature = sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
  return `${input}.${signature.toString('base64url')}`
}

t.test('hints never change a decision', async t => {
  const jwks = await idpJwks(t)
  const data: PolicyFile = {
    match: [
      {
        any: [
          {
            meta: { 'peer-id': 'a' },
            default_authorizations: { a: true },
            bearer: [
              { public_key: es.pem, issuer: 'a' },
              { public_key: rs.pem, issuer: ['b', 'a2'] }
            ]
          },
          {
            meta: { 'peer-id': 'idp' },
            default_authorizations: { idp: true },
            bearer: [{ jwks_url: jwks.url, issuer: 'https://idp' }]
          },
          // No issuer: a candidate whatever the token says.
          { meta: { 'peer-id': 'any-iss' }, default_authorizations: { x: true }, bearer: [{ public_key: es2.pem }] },
          {
            meta: { 'peer-id': 'ed', subject: 'ed-bot' },
            pin_subject: true,
            bearer: [{ jwt_alg: 'EdDSA', jwt_key_base64: ed.derB64, issuer: 'ed' }]
          }
        ]
      },
      // A bearer clause inside none, where a skipped entry must still count as "not matched".
      {
        none: [{ bearer: [{ public_key: es.pem, issuer: 'blocked' }] }],
        meta: { 'peer-id': 'fallback' },
        authorizations: { anon: true }
      }
    ]
  }
  // The same tree without the fallback matcher, so refusals (401) are compared too.
  const strict: PolicyFile = { match: [data.match[0]!] }
  const withHints = compile(data)
  const without = compile(data)
  const strictWithHints = compile(strict)
  const strictWithout = compile(strict)

  const exp = { iat: nowSec(), exp: nowSec() + 300 }
  const tokens: Array<[string, string]> = []
  const add = (name: string, token: string): void => {
    tokens.push([name, token])
  }
  const signedCases: Array<[string, TestKey, Record<string, unknown>]> = [
    ['es iss a', es, { iss: 'a' }],
    ['rs iss b', rs, { iss: 'b' }],
    ['rs iss a2', rs, { iss: 'a2' }],
    ['rs iss a (not its issuer)', rs, { iss: 'a' }],
    ['es2 any iss', es2, { iss: 'whatever' }],
    ['es2 no iss', es2, { iss: undefined }],
    ['es2 iss a', es2, { iss: 'a' }],
    ['ed iss ed, sub chosen by the holder', ed, { iss: 'ed', sub: 'admin' }],
    ['ed wrong iss', ed, { iss: 'a' }],
    ['es iss blocked (none clause)', es, { iss: 'blocked' }],
    ['es no iss', es, { iss: undefined }],
    ['es iss number', es, { iss: 7 }],
    ['es iss array', es, { iss: ['a'] }],
    ['es iss null', es, { iss: null }],
    ['attacker iss a', attacker, { iss: 'a' }],
    ['attacker iss ci', attacker, { iss: 'ci' }],
    ['es expired iss a', es, { iss: 'a', iat: nowSec() - 900, exp: nowSec() - 600 }]
  ]
  for (const [name, key, claims] of signedCases) {
    const token = await signToken(key, claims as never)
    add(name, token)
    add(`${name}, tampered`, tamper(token))
  }
  add('idp kid, iss https://idp', await signToken(idp, { iss: 'https://idp' }, { kid: 'idp-1' }))
  add('idp kid, other iss', await signToken(idp, { iss: 'a' }, { kid: 'idp-1' }))
  // Hand-made payloads, validly signed: where a naive reader and jose could disagree on the
  // claims, nothing may be skipped that jose would accept.
  const e = exp.exp
  const claimsA = b64u({ iss: 'a', exp: e })
  const notUtf8 = Buffer.concat([Buffer.from(`{"iss":"a","exp":${e},"x":"`), Buffer.from([0xff]), Buffer.from('"}')])
  add('duplicate iss keys, the last one accepted', signedPayload(es, b64u(`{"iss":"zzz","iss":"a","exp":${e}}`)))
  add('duplicate iss keys, the last one refused', signedPayload(es, b64u(`{"iss":"a","iss":"zzz","exp":${e}}`)))
  add('__proto__ holding iss', signedPayload(es, b64u(`{"__proto__":{"iss":"a"},"exp":${e}}`)))
  add('BOM before the claims (jose strips it)', signedPayload(es, b64u(`\ufeff{"iss":"a","exp":${e}}`)))
  add('claims not valid UTF-8', signedPayload(es, notUtf8.toString('base64url')))
  add('escaped iss', signedPayload(es, b64u(`{"iss":"\\u0061","exp":${e}}`)))
  add('payload not JSON', signedPayload(es, b64u('nope')))
  add('payload a JSON array', signedPayload(es, b64u('["a"]')))
  add('payload with a base64 "+"', signedPayload(es, `${claimsA}+`))
  add('payload of length 4n+1', signedPayload(es, `${claimsA}${'A'.repeat((5 - (claimsA.length % 4)) % 4)}`))
  const padded = Buffer.from(`{"iss":"a","exp":${e}}`).toString('base64').replace(/\+/g, '-').replace(/\//g, '_')
  add('payload padded with =', signedPayload(es, padded))
  add('empty payload', signedPayload(es, ''))
  const [h, , sig] = (await signToken(es, { iss: 'a' })).split('.')
  add('es token signed for iss a with its payload swapped to iss b', `${h!}.${b64u({ iss: 'b', ...exp })}.${sig!}`)
  add('header alg of another key', rawSigned(es, { alg: 'RS256' }, { iss: 'b', ...exp }))
  add('two parts', `${h!}.${claimsA}`)

  const view = ({ allow, status, entry, subject, authorizations, meta }: Decision): unknown => ({
    allow,
    status,
    entry,
    subject,
    authorizations,
    meta
  })
  for (const [name, token] of tokens) {
    for (const authorization of [undefined, 'a']) {
      const req = { ...bearer(token), authorization }
      const label = `${name}${authorization === undefined ? '' : ` (authorization ${authorization})`}`
      const a = await decide(withHints, req)
      t.same(view(a), view(await decide(without, req, { hints: false })), `${label}: ${a.reason}`)
      const s = await decide(strictWithHints, req)
      t.same(view(s), view(await decide(strictWithout, req, { hints: false })), `${label}, no fallback: ${s.reason}`)
    }
  }
  const [hinted, all] = [verifications(withHints), verifications(without)]
  t.ok(hinted < all / 2, `fewer signature checks with hints (${hinted} vs ${all})`)
  t.equal(withHints.jwks[0]!.fetches, 1, "the JWKS was fetched for its own issuer's token only")
  t.ok(jwks.hits() >= 2, 'both policies fetched it')
  const pinned = await decide(withHints, bearer(await signToken(ed, { iss: 'ed', sub: 'admin' })))
  t.equal(pinned.subject, 'ed-bot', "pin_subject: the holder's sub does not become the subject")
})

t.test('a bad token costs one signature check however many entries name other issuers', async t => {
  const jwks = await idpJwks(t)
  const entries = [
    { jwks_url: jwks.url, issuer: 'https://idp' },
    ...Array.from({ length: 29 }, (_, i) => ({ public_key: makeKey('ES256').pem, issuer: `issuer-${i}` })),
    { public_key: es.pem, issuer: 'ci' }
  ]
  const p = compile({ match: [{ meta: { 'peer-id': 'ci' }, bearer: entries }] })
  const jwt = p.match[0]!.bearer!.flatMap(b => (b.kind === 'jwt' ? [b.jwt] : []))
  for (let i = 0; i < 50; i++) {
    const d = await decide(p, bearer(await signToken(attacker, { iss: 'ci', jti: String(i) })))
    t.equal(d.status, 401)
  }
  t.same(
    jwt.map(e => e.verifications),
    [...Array(30).fill(0), 50],
    'only the "ci" entry checked a signature'
  )
  t.equal(jwks.hits(), 0, 'the JWKS of another issuer was not fetched')
  const good = await decide(p, bearer(await signToken(es, { iss: 'ci' })))
  t.same([good.status, good.entry, good.meta['peer-id']], [200, '/match/0', 'ci'])
  const noIss = await decide(p, bearer(await signToken(attacker, { iss: undefined })))
  t.equal(noIss.status, 401)
  t.match(
    noIss.reason,
    /\/match\/0\/bearer\/0: the token's \(unverified\) iss is not one of this entry's issuers/,
    'the reason says why, without echoing the claim'
  )
})
