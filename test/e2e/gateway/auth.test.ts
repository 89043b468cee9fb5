import { chmodSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { buildGateway } from '../../../gateway/index.js'
import { startGatewayProcess, startLoggedGateway } from '../../harness/gateway.js'
import { startHugeJwks } from '../../harness/huge-jwks.js'
import { makeKey, signToken } from '../../harness/jwt.js'
import { waitFor } from '../../harness/ports.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

// /auth over real HTTP, with the raw fast path and with the Fastify route only: both must
// give the same answers (status, identity headers, content-length 0), and the authorizer is
// callable by other gateway plugins.

const TOKEN = 'gateway-auth-token-0123456789'

t.test('fast path and Fastify route answer alike', async t => {
  const root = tempDir(t)
  writeTree(root, {
    'policies/p.json': {
      match: [
        {
          meta: { 'peer-id': '5', 'peer-hostname': 'h.example' },
          default_authorizations: { read: true, write: false },
          bearer: [{ token: TOKEN }]
        }
      ]
    },
    'policies/we ird.json': { match: [{ always: true }] }
  })
  const answers: Array<Array<[string, number, Record<string, string | null>]>> = []
  for (const fastAuth of [true, false]) {
    const gw = await buildGateway({
      roots: { services: `${root}/services`, policies: `${root}/policies` },
      fastAuth,
      pressure: { maxEventLoopDelayMs: 0 }
    })
    t.teardown(async () => {
      await gw.app.close()
    })
    await gw.app.listen({ host: '127.0.0.1', port: 0 })
    const base = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`
    const requests: Array<[string, string, Record<string, string>]> = [
      [
        'GET',
        '/auth?policy=p',
        { authorization: `Bearer ${TOKEN}`, 'x-forwarded-uri': '/x?secret=1', 'x-forwarded-method': 'POST' }
      ],
      ['HEAD', '/auth?policy=p', { authorization: `Bearer ${TOKEN}` }],
      ['GET', '/auth?policy=p&authorization=read', { authorization: `Bearer ${TOKEN}` }],
      ['GET', '/auth?policy=p&authorization=write', { authorization: `Bearer ${TOKEN}` }],
      ['GET', '/auth?policy=p', {}],
      ['GET', '/auth?policy=p', { authorization: 'Bearer nope-nope-nope-nope' }],
      ['GET', '/auth?policy=unknown', { authorization: `Bearer ${TOKEN}` }],
      ['GET', '/auth?policy=%70', { authorization: `Bearer ${TOKEN}` }],
      ['GET', '/auth?policy=p&policy=q', { authorization: `Bearer ${TOKEN}` }],
      ['GET', '/auth?policy=', {}],
      ['GET', '/auth?polic=p', {}],
      ['GET', '/auth', {}],
      ['GET', '/auth?policy=%E0%A4%A', {}],
      ['POST', '/auth?policy=p', { authorization: `Bearer ${TOKEN}` }],
      ['GET', '/authx?policy=p', { authorization: `Bearer ${TOKEN}` }]
    ]
    const got: Array<[string, number, Record<string, string | null>]> = []
    for (const [method, path, headers] of requests) {
      const res = await fetch(base + path, { method, headers })
      const body = await res.text()
      const h = res.headers
      got.push([
        `${method} ${path}`,
        res.status,
        {
          'content-length': h.get('content-length'),
          'x-conductor-peer-id': h.get('x-conductor-peer-id'),
          'x-conductor-peer-hostname': h.get('x-conductor-peer-hostname'),
          'x-conductor-authorizations': h.get('x-conductor-authorizations'),
          'x-conductor-policy': h.get('x-conductor-policy'),
          'www-authenticate': h.get('www-authenticate'),
          'transfer-encoding': h.get('transfer-encoding'),
          empty: String(path.startsWith('/auth?policy=') && res.status !== 400 ? body === '' : true)
        }
      ])
    }
    answers.push(got)
    // Other plugins decide through the same authorizer.
    const d = await gw.authorize({ policy: 'p', authorization: 'read', headers: { authorization: `Bearer ${TOKEN}` } })
    t.equal(d.allow, true, 'authorize() is usable by other plugins')
  }
  t.same(answers[0], answers[1], 'identical answers with and without the fast path')
  const [ok, head, read, write, none, bad, unknown, encoded, repeated, , , bare, , post] = answers[0]!.map(
    ([, status, h]) => ({ status, h })
  )
  t.equal(ok!.status, 200)
  t.equal(ok!.h['content-length'], '0', 'content-length: 0, never chunked')
  t.equal(ok!.h['transfer-encoding'], null)
  t.equal(ok!.h['x-conductor-peer-id'], '5')
  t.equal(ok!.h['x-conductor-peer-hostname'], 'h.example')
  t.equal(ok!.h['x-conductor-authorizations'], 'read')
  t.equal(head!.status, 200)
  t.equal(read!.status, 200)
  t.equal(write!.status, 403)
  t.equal(none!.status, 401)
  t.equal(none!.h['www-authenticate'], 'Bearer realm="conductor"')
  t.equal(bad!.status, 401)
  t.match(bad!.h['www-authenticate'], /error="invalid_token"/)
  t.equal(unknown!.status, 403)
  t.equal(encoded!.status, 200, 'percent-encoded policy name')
  t.equal(repeated!.status, 400, 'repeated policy is a bad request')
  t.equal(bare!.status, 400)
  t.equal(post!.status, 404)
})

t.test('a hostile JWT sub cannot split or break identity headers', async t => {
  const es = makeKey('ES256')
  const root = tempDir(t)
  writeTree(root, { 'policies/p.json': { match: [{ bearer: [{ public_key: es.pem }] }] } })
  const gw = await buildGateway({
    roots: { services: `${root}/services`, policies: `${root}/policies` },
    pressure: { maxEventLoopDelayMs: 0 }
  })
  t.teardown(async () => {
    await gw.app.close()
  })
  await gw.app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`
  const res = await fetch(`${base}/auth?policy=p`, {
    headers: { authorization: `Bearer ${await signToken(es, { sub: 'eve\r\nX-Conductor-Authorizations: root' })}` }
  })
  t.equal(res.status, 200)
  t.equal(
    res.headers.get('x-conductor-subject'),
    'eve%0D%0AX-Conductor-Authorizations%3A%20root',
    'percent-encoded, one header'
  )
  t.equal(res.headers.get('x-conductor-authorizations'), '')
})

/** One request written as raw bytes (header names spelled and repeated exactly as given); resolves with the status line's code. */
async function rawStatus(port: number, head: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head + '\r\n'))
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => {
      text += d
      if (text.includes('\r\n\r\n')) {
        socket.destroy()
        resolve(Number(text.split(' ')[1]))
      }
    })
    socket.on('error', reject)
  })
}

t.test('a header the decision reads, sent twice, is a bad request on both paths (issue 13)', async t => {
  const root = tempDir(t)
  writeTree(root, {
    'policies/p.json': { match: [{ bearer: [{ token: TOKEN }] }] },
    'policies/open.json': { match: [{ always: true }] }
  })
  for (const fastAuth of [true, false]) {
    const gw = await buildGateway({
      roots: { services: `${root}/services`, policies: `${root}/policies` },
      fastAuth,
      pressure: { maxEventLoopDelayMs: 0 }
    })
    t.teardown(async () => {
      await gw.app.close()
    })
    await gw.app.listen({ host: '127.0.0.1', port: 0 })
    const port = (gw.app.server.address() as AddressInfo).port
    const ask = async (policy: string, ...lines: string[]): Promise<number> =>
      await rawStatus(
        port,
        [`GET /auth?policy=${policy} HTTP/1.1`, 'Host: 127.0.0.1', ...lines, 'Connection: close', ''].join('\r\n')
      )
    const path = fastAuth ? 'fast path' : 'Fastify route'
    t.equal(await ask('p', `Authorization: Bearer ${TOKEN}`), 200, `${path}: one Authorization`)
    t.equal(
      await ask('p', `Authorization: Bearer ${TOKEN}`, 'Authorization: Bearer other-token-0123456789'),
      400,
      `${path}: two Authorization headers (Node would keep the first)`
    )
    t.equal(
      await ask('p', 'Authorization: Bearer other-token-0123456789', `authorization: Bearer ${TOKEN}`),
      400,
      `${path}: in any spelling of the name`
    )
    const repeated: Array<[string, string]> = [
      ['Origin', 'Origin: https://a.example\r\nOrigin: https://b.example'],
      ['Host', 'Host: other.example'],
      ['X-Forwarded-Method', 'X-Forwarded-Method: GET\r\nx-forwarded-method: POST'],
      ['X-Forwarded-Uri', 'X-Forwarded-Uri: /a\r\nX-Forwarded-Uri: /b'],
      ['X-Forwarded-Host', 'X-Forwarded-Host: a.example\r\nX-FORWARDED-HOST: b.example']
    ]
    for (const [name, lines] of repeated)
      t.equal(await ask('open', lines), 400, `${path}: repeated ${name}, even where the policy allows anyone`)
    t.equal(
      await ask('open', 'Accept: a', 'Accept: b', 'X-Forwarded-For: 1.2.3.4', 'X-Forwarded-For: 5.6.7.8'),
      200,
      `${path}: other repeated headers are not the decision's business`
    )
  }
})

/** A loopback JWKS server holding `keys`; `hits()` counts its fetches. */
async function jwksServer(t: Test, keys: object[]): Promise<{ url: string; hits: () => number }> {
  let hits = 0
  const srv = createServer((_req, res) => {
    hits++
    res.end(JSON.stringify({ keys }))
  })
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    srv.close()
  })
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/jwks.json`, hits: () => hits }
}

const bearerHeader = (token: string): { headers: Record<string, string> } => ({
  headers: { authorization: `Bearer ${token}` }
})

t.test('a flood of bad JWTs costs one signature check per token, whatever other issuers (item 5)', async t => {
  const ci = makeKey('ES256')
  const idp = makeKey('ES256', 'idp-1')
  const attacker = makeKey('ES256')
  const jwks = await jwksServer(t, [idp.jwk])
  const others = Array.from({ length: 29 }, (_, i) => ({ public_key: makeKey('ES256').pem, issuer: `issuer-${i}` }))
  const root = tempDir(t)
  writeTree(root, {
    'policies/p.json': {
      match: [
        {
          any: [
            { meta: { 'peer-id': 'idp' }, bearer: [{ jwks_url: jwks.url, issuer: 'https://idp' }] },
            { meta: { 'peer-id': 'others' }, bearer: others },
            { meta: { 'peer-id': 'ci' }, bearer: [{ public_key: ci.pem, issuer: 'ci' }] }
          ]
        }
      ]
    }
  })
  const roots = { services: `${root}/services`, policies: `${root}/policies` }
  const gw = await buildGateway({ roots, pressure: { maxEventLoopDelayMs: 0 } })
  t.teardown(async () => {
    await gw.app.close()
  })
  await gw.app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`
  const auth = async (token: string): Promise<Response> => await fetch(`${base}/auth?policy=p`, bearerHeader(token))
  const bad = await Promise.all(
    Array.from({ length: 100 }, async (_, i) => await signToken(attacker, { iss: 'ci', jti: String(i) }))
  )
  for (const token of bad) {
    const res = await auth(token)
    t.equal(res.status, 401)
    t.match(res.headers.get('www-authenticate'), /error="invalid_token"/)
  }
  const matchers = gw.state.current.policies.get('p')!.match[0]!.any!
  const checked = matchers.flatMap(m => m.bearer!.flatMap(b => (b.kind === 'jwt' ? [b.jwt.verifications] : [])))
  t.same(checked, [0, ...Array(29).fill(0), 100], 'only the "ci" entry checked signatures')
  t.equal(jwks.hits(), 0, "the other issuer's JWKS was not fetched for tokens that do not claim it")
  const good = await auth(await signToken(ci, { iss: 'ci' }))
  t.same([good.status, good.headers.get('x-conductor-peer-id')], [200, 'ci'])
  const fromIdp = await auth(await signToken(idp, { iss: 'https://idp' }, { kid: 'idp-1' }))
  t.same([fromIdp.status, fromIdp.headers.get('x-conductor-peer-id'), jwks.hits()], [200, 'idp', 1])
})

t.test('JWKS: a 64 MiB key set does not grow the gateway process (issue 13 item 7)', async t => {
  const huge = await startHugeJwks(t)
  const key = makeKey('ES256', 'k1')
  const small = await jwksServer(t, [key.jwk])
  const root = tempDir(t)
  writeTree(root, {
    'etc/conductor/policies/p.json': { match: [{ bearer: [{ jwks_url: huge.url }] }] },
    'etc/conductor/policies/warm.json': { match: [{ bearer: [{ jwks_url: small.url }] }] }
  })
  const { proc, port } = await startGatewayProcess(t, { env: { CONDUCTOR_ROOT: root } })
  const auth = async (policy: string): Promise<number> => {
    const token = await signToken(key, {}, { kid: 'k1' })
    return (await fetch(`http://127.0.0.1:${port}/auth?policy=${policy}`, bearerHeader(token))).status
  }
  // A JWKS fetch of normal size first, so that what loads on first use (fetch, jose) is not counted.
  t.equal(await auth('warm'), 200)
  const peakKiB = (): number => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${proc.pid!}/status`, 'utf8'))![1])
  const before = peakKiB()
  t.equal(await auth('p'), 401, 'no key: the token is refused')
  await waitFor('the JWKS connection closed', () => huge.served.closed >= 1)
  t.equal(huge.served.requests, 1)
  const sent = huge.served.bytes
  t.ok(sent < 16 * 1024 * 1024, `the gateway stopped reading (${sent} bytes of 64 MiB sent, socket buffers included)`)
  const grown = peakKiB() - before
  t.ok(grown < 32 * 1024, `peak RSS grew by ${grown} KiB (< 32 MiB)`)
})

t.test(
  'empty none is a load error; pin_subject fixes the subject; readable tokens are logged (items 11, 12)',
  async t => {
    const es = makeKey('ES256')
    const root = tempDir(t)
    const dir = `${root}/etc/conductor/policies`
    writeTree(dir, {
      'open.json': { match: [{ none: [], authorizations: { read: true } }] },
      'skipped.json': { match: [{ none: [{ skip: true, bearer: [{ token: TOKEN }] }] }] },
      'pinned.json': { match: [{ meta: { subject: 'ci-bot' }, pin_subject: true, bearer: [{ public_key: es.pem }] }] },
      'tokens.json': { match: [{ bearer: [{ token: TOKEN }] }] }
    })
    chmodSync(`${dir}/tokens.json`, 0o644)
    const { gwPort, log } = await startLoggedGateway(t, root)
    const base = `http://127.0.0.1:${gwPort}`
    for (const name of ['open', 'skipped']) {
      const res = await fetch(`${base}/auth?policy=${name}`)
      t.equal(res.status, 403, `${name}: anonymous request refused (the policy was left out)`)
    }
    const text = log.join('')
    // (JSON log lines: the quotes are escaped.)
    t.match(text, /policy left out: \S*open\.json: \/match\/0\/none: \\"none\\" needs at least one matcher/)
    t.match(text, /policy left out: \S*skipped\.json: \/match\/0\/none: \\"none\\" needs/)
    const forged = await fetch(`${base}/auth?policy=pinned`, bearerHeader(await signToken(es, { sub: 'admin' })))
    t.equal(forged.status, 200)
    t.equal(forged.headers.get('x-conductor-subject'), 'ci-bot', "the key holder's sub does not become the subject")
    t.match(
      text,
      new RegExp(
        '"level":40.*policy warning: \\S*tokens\\.json: /match/0/bearer/0/token: ' +
          'plaintext token in a file everyone can read \\(mode 0644\\): chmod 600'
      )
    )
    t.notOk(text.includes(TOKEN), 'the token is never logged')
  }
)
