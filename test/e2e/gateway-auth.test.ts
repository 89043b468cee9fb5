import { connect, type AddressInfo } from 'node:net'
import t from 'tap'
import { buildGateway } from '../../gateway/index.js'
import { makeKey, signToken } from '../harness/jwt.js'
import { tempDir, writeTree } from '../harness/tmp.js'

// /auth over real HTTP, with the raw fast path and with the Fastify route only: both must
// give the same answers (status, identity headers, content-length 0), and the authorizer is
// callable by other gateway plugins.

const TOKEN = 'gateway-auth-token-0123456789'

t.test('fast path and Fastify route answer alike', async t => {
  const root = tempDir(t)
  writeTree(root, {
    'policies/p.json': { match: [{ meta: { 'peer-id': '5', 'peer-hostname': 'h.example' }, default_authorizations: { read: true, write: false }, bearer: [{ token: TOKEN }] }] },
    'policies/we ird.json': { match: [{ always: true }] }
  })
  const answers: Array<Array<[string, number, Record<string, string | null>]>> = []
  for (const fastAuth of [true, false]) {
    const gw = await buildGateway({ roots: { services: `${root}/services`, policies: `${root}/policies` }, fastAuth, pressure: { maxEventLoopDelayMs: 0 } })
    t.teardown(async () => { await gw.app.close() })
    await gw.app.listen({ host: '127.0.0.1', port: 0 })
    const base = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`
    const requests: Array<[string, string, Record<string, string>]> = [
      ['GET', '/auth?policy=p', { authorization: `Bearer ${TOKEN}`, 'x-forwarded-uri': '/x?secret=1', 'x-forwarded-method': 'POST' }],
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
      got.push([`${method} ${path}`, res.status, {
        'content-length': h.get('content-length'),
        'x-conductor-peer-id': h.get('x-conductor-peer-id'),
        'x-conductor-peer-hostname': h.get('x-conductor-peer-hostname'),
        'x-conductor-authorizations': h.get('x-conductor-authorizations'),
        'x-conductor-policy': h.get('x-conductor-policy'),
        'www-authenticate': h.get('www-authenticate'),
        'transfer-encoding': h.get('transfer-encoding'),
        empty: String(path.startsWith('/auth?policy=') && res.status !== 400 ? body === '' : true)
      }])
    }
    answers.push(got)
    // Other plugins decide through the same authorizer.
    const d = await gw.authorize({ policy: 'p', authorization: 'read', headers: { authorization: `Bearer ${TOKEN}` } })
    t.equal(d.allow, true, 'authorize() is usable by other plugins')
  }
  t.same(answers[0], answers[1], 'identical answers with and without the fast path')
  const [ok, head, read, write, none, bad, unknown, encoded, repeated, , , bare, , post] = answers[0]!.map(([, status, h]) => ({ status, h }))
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
  const gw = await buildGateway({ roots: { services: `${root}/services`, policies: `${root}/policies` }, pressure: { maxEventLoopDelayMs: 0 } })
  t.teardown(async () => { await gw.app.close() })
  await gw.app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(gw.app.server.address() as AddressInfo).port}`
  const res = await fetch(`${base}/auth?policy=p`, { headers: { authorization: `Bearer ${await signToken(es, { sub: 'eve\r\nX-Conductor-Authorizations: root' })}` } })
  t.equal(res.status, 200)
  t.equal(res.headers.get('x-conductor-subject'), 'eve%0D%0AX-Conductor-Authorizations%3A%20root', 'percent-encoded, one header')
  t.equal(res.headers.get('x-conductor-authorizations'), '')
})

/** One request written as raw bytes (header names spelled and repeated exactly as given); resolves with the status line's code. */
async function rawStatus (port: number, head: string): Promise<number> {
  return await new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head + '\r\n'))
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => { text += d; if (text.includes('\r\n\r\n')) { socket.destroy(); resolve(Number(text.split(' ')[1])) } })
    socket.on('error', reject)
  })
}

t.test('a header the decision reads, sent twice, is a bad request on both paths (issue 13)', async t => {
  const root = tempDir(t)
  writeTree(root, { 'policies/p.json': { match: [{ bearer: [{ token: TOKEN }] }] }, 'policies/open.json': { match: [{ always: true }] } })
  for (const fastAuth of [true, false]) {
    const gw = await buildGateway({ roots: { services: `${root}/services`, policies: `${root}/policies` }, fastAuth, pressure: { maxEventLoopDelayMs: 0 } })
    t.teardown(async () => { await gw.app.close() })
    await gw.app.listen({ host: '127.0.0.1', port: 0 })
    const port = (gw.app.server.address() as AddressInfo).port
    const ask = async (policy: string, ...lines: string[]): Promise<number> =>
      await rawStatus(port, [`GET /auth?policy=${policy} HTTP/1.1`, 'Host: 127.0.0.1', ...lines, 'Connection: close', ''].join('\r\n'))
    const path = fastAuth ? 'fast path' : 'Fastify route'
    t.equal(await ask('p', `Authorization: Bearer ${TOKEN}`), 200, `${path}: one Authorization`)
    t.equal(await ask('p', `Authorization: Bearer ${TOKEN}`, 'Authorization: Bearer other-token-0123456789'), 400, `${path}: two Authorization headers (Node would keep the first)`)
    t.equal(await ask('p', 'Authorization: Bearer other-token-0123456789', `authorization: Bearer ${TOKEN}`), 400, `${path}: in any spelling of the name`)
    const repeated: Array<[string, string]> = [
      ['Origin', 'Origin: https://a.example\r\nOrigin: https://b.example'],
      ['Host', 'Host: other.example'],
      ['X-Forwarded-Method', 'X-Forwarded-Method: GET\r\nx-forwarded-method: POST'],
      ['X-Forwarded-Uri', 'X-Forwarded-Uri: /a\r\nX-Forwarded-Uri: /b'],
      ['X-Forwarded-Host', 'X-Forwarded-Host: a.example\r\nX-FORWARDED-HOST: b.example']
    ]
    for (const [name, lines] of repeated) t.equal(await ask('open', lines), 400, `${path}: repeated ${name}, even where the policy allows anyone`)
    t.equal(await ask('open', 'Accept: a', 'Accept: b', 'X-Forwarded-For: 1.2.3.4', 'X-Forwarded-For: 5.6.7.8'), 200, `${path}: other repeated headers are not the decision's business`)
  }
})
