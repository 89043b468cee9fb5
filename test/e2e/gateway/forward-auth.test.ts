import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildGateway } from '../../../gateway/index.js'
import { sha256 } from '../../../policies/index.js'
import { protectedRoute } from '../../../caddy/index.js'
import { postCaddyConfig, startCaddy } from '../../harness/caddy.js'
import { httpRequest as plainRequest } from '../../harness/http.js'
import { hsWithPublicKeyToken, makeKey, noneToken, nowSec, signToken, tamper } from '../../harness/jwt.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

// Real path: client -> Caddy (the product's route, caddy/routes.ts protectedRoute, posted to
// its admin API) -> forward_auth -> the real gateway (Fastify on a free loopback port) ->
// upstream (a node server on loopback that records what reaches it). Good credentials get through with identity headers; every attack
// of issue 5 is stopped before the upstream; forged identity headers never reach it.

const STATIC = 'static-token-for-e2e-0123456789'
const HASHED = 'hashed-token-for-e2e-0123456789'
const rs = makeKey('RS256')
const es = makeKey('ES256')
const ed = makeKey('EdDSA')
const jw = makeKey('ES256', 'jwks-key-1')
const claims = { iss: 'https://ci.example', aud: 'conductor-e2e' }
const checks = { issuer: claims.iss, audience: claims.aud }

t.test('Caddy -> forward_auth -> gateway -> upstream', async t => {
  // JWKS served on loopback.
  const jwks = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: [jw.jwk] }))
  })
  await new Promise<void>(resolve => jwks.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    jwks.close()
  })
  const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`

  // Upstream: records the headers of every request that reaches it.
  const seen: IncomingHttpHeaders[] = []
  const upstream = createServer((req, res) => {
    seen.push(req.headers)
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify(req.headers))
  })
  await new Promise<void>(resolve => upstream.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    upstream.close()
  })

  const root = tempDir(t)
  writeTree(root, {
    'policies/api.json': {
      match: [
        {
          any: [
            {
              meta: { 'peer-id': 'static-1', 'peer-hostname': 'ci.example' },
              default_authorizations: { read: true, write: true },
              bearer: [{ token: STATIC }]
            },
            {
              meta: { 'peer-id': 'hashed-2' },
              authorizations: { read: true },
              bearer: [{ token_sha256: sha256(HASHED).toString('hex') }]
            },
            {
              meta: { 'peer-id': 'jwt' },
              default_authorizations: { read: true, write: true },
              bearer: [
                { public_key: rs.pem, ...checks },
                { public_key: es.jwk, ...checks },
                { jwt_alg: 'EdDSA', jwt_key_base64: ed.derB64, ...checks },
                { jwks_url: jwksUrl, ...checks }
              ]
            }
          ]
        }
      ]
    }
  })
  // Load shedding is tested in gateway-process.test.ts; a loaded CI machine must not shed here.
  const gw = await buildGateway({
    roots: { services: `${root}/services`, policies: `${root}/policies` },
    pressure: { maxEventLoopDelayMs: 0 }
  })
  t.teardown(async () => {
    await gw.app.close()
  })
  await gw.app.listen({ host: '127.0.0.1', port: 0 })
  const gateway = `127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`
  const upstreamDial = `127.0.0.1:${(upstream.address() as AddressInfo).port}`

  const caddy = await startCaddy(t)
  // One POST of all routes ("routes/..." appends an array elements).
  const routes = [
    protectedRoute({
      id: 'write',
      path: ['/write/*'],
      gateway,
      policy: 'api',
      authorization: 'write',
      upstream: { dial: upstreamDial }
    }),
    protectedRoute({
      id: 'nopolicy',
      path: ['/nopolicy/*'],
      gateway,
      policy: 'does-not-exist',
      upstream: { dial: upstreamDial }
    }),
    protectedRoute({ id: 'api', gateway, policy: 'api', upstream: { dial: upstreamDial } })
  ]
  await postCaddyConfig(`${caddy.adminUrl}/config/apps/http/servers/conductor/routes/...`, routes)
  t.pass('routes accepted by the admin API')
  const base = `http://127.0.0.1:${caddy.httpPort}`

  const call = async (
    path: string,
    headers: Record<string, string>
  ): Promise<{ status: number; headers: Headers; reached: IncomingHttpHeaders | undefined }> => {
    const before = seen.length
    const res = await fetch(base + path, { headers })
    await res.arrayBuffer()
    return {
      status: res.status,
      headers: res.headers,
      reached: seen.length > before ? seen[seen.length - 1] : undefined
    }
  }

  const goodCases: Array<[string, () => Promise<string>, string]> = [
    ['static token', async () => STATIC, 'static-1'],
    ['token_sha256', async () => HASHED, 'hashed-2'],
    ['JWT RS256 (PEM)', async () => await signToken(rs, claims), 'jwt'],
    ['JWT ES256 (JWK)', async () => await signToken(es, claims), 'jwt'],
    ['JWT EdDSA (jwt_alg + jwt_key_base64)', async () => await signToken(ed, claims), 'jwt'],
    ['JWT ES256 from a JWKS URL', async () => await signToken(jw, claims, { kid: 'jwks-key-1' }), 'jwt']
  ]
  for (const [name, make, peer] of goodCases) {
    const r = await call('/hello?x=1', {
      authorization: `Bearer ${await make()}`,
      'x-conductor-subject': 'forged-admin',
      'x-conductor-authorizations': 'root',
      'x-conductor-role': 'admin'
    })
    t.equal(r.status, 200, `${name}: allowed`)
    t.equal(r.reached?.['x-conductor-peer-id'], peer, `${name}: upstream sees the peer id`)
    t.not(
      r.reached?.['x-conductor-subject'],
      'forged-admin',
      `${name}: a forged X-Conductor-Subject never reaches the upstream`
    )
    t.not(r.reached?.['x-conductor-authorizations'], 'root', `${name}: forged authorizations never reach the upstream`)
    t.equal(
      r.reached?.['x-conductor-role'],
      undefined,
      `${name}: every client-sent X-Conductor-* header is stripped, not only the copied ones`
    )
    if (peer === 'jwt') t.equal(r.reached?.['x-conductor-subject'], 'alice', `${name}: subject from the JWT`)
    t.equal(
      r.reached?.authorization?.startsWith('Bearer '),
      true,
      `${name}: the upstream still gets the credential it may need`
    )
  }

  const attacks: Array<[string, () => Promise<Record<string, string>> | Record<string, string>, number]> = [
    ['no credential', () => ({}), 401],
    ['wrong static token', () => ({ authorization: 'Bearer wrong-token-0123456789abcdef' }), 401],
    ['alg none', () => ({ authorization: `Bearer ${noneToken(claims)}` }), 401],
    [
      'HS256 signed with the public key as secret',
      () => ({ authorization: `Bearer ${hsWithPublicKeyToken(rs, claims)}` }),
      401
    ],
    [
      'unknown kid (JWKS)',
      async () => ({ authorization: `Bearer ${await signToken(makeKey('ES256'), claims, { kid: 'not-in-the-set' })}` }),
      401
    ],
    [
      'injected kid',
      async () => ({
        authorization: `Bearer ${await signToken(makeKey('ES256'), claims, { kid: "../../../../etc/passwd' OR 1=1 --" })}`
      }),
      401
    ],
    [
      'expired',
      async () => ({
        authorization: `Bearer ${await signToken(es, { ...claims, iat: nowSec() - 3600, exp: nowSec() - 600 })}`
      }),
      401
    ],
    [
      'nbf in the future',
      async () => ({ authorization: `Bearer ${await signToken(es, { ...claims, nbf: nowSec() + 600 })}` }),
      401
    ],
    ['wrong aud', async () => ({ authorization: `Bearer ${await signToken(es, { ...claims, aud: 'other' })}` }), 401],
    [
      'wrong iss',
      async () => ({ authorization: `Bearer ${await signToken(es, { ...claims, iss: 'https://evil.example' })}` }),
      401
    ],
    ['tampered signature', async () => ({ authorization: `Bearer ${tamper(await signToken(rs, claims))}` }), 401],
    ['no exp', async () => ({ authorization: `Bearer ${await signToken(es, { ...claims, exp: undefined })}` }), 401],
    ['malformed base64', () => ({ authorization: 'Bearer eyJhbGciOiJFUzI1NiJ9.@@@@.####' }), 401],
    ['valid token lacking the authorization (write)', () => ({ authorization: `Bearer ${HASHED}` }), 403],
    ['unknown policy', () => ({ authorization: `Bearer ${STATIC}` }), 403]
  ]
  for (const [name, make, status] of attacks) {
    const path = name.includes('(write)') ? '/write/x' : name === 'unknown policy' ? '/nopolicy/x' : '/hello'
    const r = await call(path, await make())
    t.equal(r.status, status, `${name}: ${status}`)
    t.equal(r.reached, undefined, `${name}: the upstream is not reached`)
    if (status === 401)
      t.match(r.headers.get('www-authenticate'), /^Bearer realm="conductor"/, `${name}: WWW-Authenticate`)
  }
  const writer = await call('/write/x', { authorization: `Bearer ${STATIC}` })
  t.equal(writer.status, 200, 'an entry granting "write" passes the write route')
  t.equal(writer.reached?.['x-conductor-authorizations'], 'read,write')

  // 64 KiB Authorization header: refused somewhere before the upstream, never a 2xx.
  const big = await new Promise<number>((resolve, reject) => {
    const before = seen.length
    const req = httpRequest(`${base}/hello`, { headers: { authorization: `Bearer ${'a'.repeat(64 * 1024)}` } }, res => {
      res.resume()
      res.on('end', () => resolve(seen.length > before ? -1 : (res.statusCode ?? 0)))
    })
    req.on('error', reject)
    req.end()
  })
  t.ok(big >= 400, `64 KiB header refused (status ${big}), upstream not reached`)

  // Two Authorization headers: Caddy forwards both to /auth and to the upstream; the gateway
  // must not decide on the first while the upstream may read another (issue 13).
  for (const pair of [
    [`Bearer ${STATIC}`, 'Bearer attacker-chosen-0123456789'],
    ['Bearer attacker-chosen-0123456789', `Bearer ${STATIC}`]
  ]) {
    const before = seen.length
    const r = await plainRequest(`${base}/hello`, { headers: { authorization: pair } })
    t.equal(
      r.status,
      400,
      `two Authorization headers (${pair[0] === `Bearer ${STATIC}` ? 'good one first' : 'good one last'}): 400`
    )
    t.equal(seen.length, before, 'the upstream is not reached')
  }
  const origins = await plainRequest(`${base}/hello`, {
    headers: { authorization: `Bearer ${STATIC}`, origin: ['https://a.example', 'https://b.example'] }
  })
  t.equal(origins.status, 400, 'two Origin headers: 400')
  const placeholder = await call('/hello', { authorization: `Bearer ${STATIC}` })
  t.equal(
    placeholder.reached?.['x-conductor-subject'],
    undefined,
    'the product route deletes an identity header the gateway did not send (no placeholder text)'
  )
})
