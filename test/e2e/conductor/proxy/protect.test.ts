import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { CaddyClient } from '../../../../caddy/index.js'
import { startCaddy } from '../../../harness/caddy.js'
import { cli } from '../../../harness/cli.js'
import { httpRequest } from '../../../harness/http.js'
import { tempDir } from '../../../harness/tmp.js'

// `conductor caddy protect` through a real Caddy: the route it registers really enforces the
// gateway's decision and never lets a client-sent X-Conductor-* header through.
//
// STAND-IN FOR THE GATEWAY: the real gateway's /auth is built in parallel (issue 5), so this
// test answers forward_auth with a tiny node:http server on loopback: 200 with
// X-Conductor-Subject for "Bearer good", 200 without identity for "Bearer anonymous",
// 401 with WWW-Authenticate otherwise. The gateway end-to-end test replaces it after merge.

interface Seen {
  method?: string | undefined
  url?: string | undefined
  headers: http.IncomingHttpHeaders
  body: string
}

async function listen(t: Test, handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler)
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  return (server.address() as AddressInfo).port
}

t.test('caddy protect registers a route that enforces the gateway decision', async t => {
  const caddy = await startCaddy(t)
  const root = tempDir(t)
  const authSeen: Seen[] = []
  const upstreamSeen: Seen[] = []
  const gatewayPort = await listen(t, (req, res) => {
    authSeen.push({ method: req.method, url: req.url, headers: req.headers, body: '' })
    const auth = req.headers.authorization
    if (auth === 'Bearer good')
      res.writeHead(200, {
        'content-length': '0',
        'x-conductor-subject': 'alice',
        'x-conductor-authorizations': 'deploy'
      })
    else if (auth === 'Bearer anonymous') res.writeHead(200, { 'content-length': '0' })
    else
      res.writeHead(401, {
        'www-authenticate': 'Bearer realm="conductor"',
        'content-type': 'text/plain',
        'content-length': '13'
      })
    res.end(auth === 'Bearer good' || auth === 'Bearer anonymous' ? undefined : 'unauthorized\n')
  })
  const upstreamPort = await listen(t, (req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => {
      body += d.toString()
    })
    req.on('end', () => {
      upstreamSeen.push({ method: req.method, url: req.url, headers: req.headers, body })
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('upstream says hi')
    })
  })
  const args = [
    '--root',
    root,
    '--caddy-admin',
    caddy.adminUrl,
    'caddy',
    'protect',
    '--policy',
    'ci',
    '--authorization',
    'deploy',
    '--host',
    '127.0.0.1',
    '--path',
    '/api/*',
    '--upstream',
    `127.0.0.1:${upstreamPort}`,
    '--gateway',
    `127.0.0.1:${gatewayPort}`,
    '--id',
    'api'
  ]
  const first = await cli(args)
  t.equal(first.code, 0, first.stderr)
  t.match(first.stdout, /route api created in conductor-server\/routes/)
  const url = `http://127.0.0.1:${caddy.httpPort}/api/things?x=1`

  const none = await httpRequest(url)
  t.equal(none.status, 401, 'no credential: 401')
  t.equal(
    none.headers['www-authenticate'],
    'Bearer realm="conductor"',
    "the gateway's WWW-Authenticate reaches the client"
  )
  t.equal(none.body, 'unauthorized\n')
  const bad = await httpRequest(url, { headers: { authorization: 'Bearer bad', 'x-conductor-subject': 'root' } })
  t.equal(bad.status, 401, 'bad credential with a forged identity: still 401')
  t.equal(upstreamSeen.length, 0, 'the upstream saw none of the denied requests')

  const good = await httpRequest(url, {
    method: 'POST',
    headers: {
      authorization: 'Bearer good',
      'x-conductor-subject': 'root',
      'X-Conductor-Peer-Id': '666',
      X_CONDUCTOR_SUBJECT: 'root2',
      'x-conductor_peer_id': '667',
      'X_Conductor-Meta': 'x',
      'content-type': 'text/plain'
    },
    body: 'payload'
  })
  t.equal(good.status, 200)
  t.equal(good.body, 'upstream says hi')
  const up = upstreamSeen.at(-1)!
  t.equal(up.headers['x-conductor-subject'], 'alice', "the upstream sees the gateway's identity, not the forged one")
  t.equal(up.headers['x-conductor-authorizations'], 'deploy')
  t.equal(up.headers['x-conductor-peer-id'], undefined, 'a forged header the gateway did not set is gone')
  t.same(
    Object.keys(up.headers)
      .filter(h => h.startsWith('x-conductor-'))
      .sort(),
    ['x-conductor-authorizations', 'x-conductor-subject'],
    'no placeholder text for identity headers the gateway did not send'
  )
  // A CGI environment maps "_" and "-" alike (HTTP_X_CONDUCTOR_SUBJECT): those spellings are forgeries too.
  t.same(
    Object.keys(up.headers)
      .filter(h => /^x[-_]conductor[-_]/.test(h))
      .sort(),
    ['x-conductor-authorizations', 'x-conductor-subject'],
    'no underscore spelling reaches the upstream'
  )
  t.equal(up.method, 'POST')
  t.equal(up.body, 'payload', 'the request body reaches the upstream intact')
  const asked = authSeen.at(-1)!
  t.equal(asked.method, 'GET', 'the gateway is asked with GET')
  t.equal(asked.url, '/auth?policy=ci&authorization=deploy')
  t.equal(asked.headers['x-forwarded-method'], 'POST')
  t.equal(asked.headers['x-forwarded-uri'], '/api/things?x=1')
  t.equal(asked.headers['x-forwarded-host'], `127.0.0.1:${caddy.httpPort}`)
  t.same(
    Object.keys(asked.headers).filter(h => /^x[-_]conductor/.test(h)),
    [],
    'the gateway never sees a client-sent X-Conductor-* header'
  )

  const anon = await httpRequest(url, { headers: { authorization: 'Bearer anonymous', 'x-conductor-subject': 'root' } })
  t.equal(anon.status, 200)
  t.same(
    Object.keys(upstreamSeen.at(-1)!.headers).filter(h => h.startsWith('x-conductor-')),
    [],
    'allowed without identity: no X-Conductor-* at all'
  )

  const again = await cli(args)
  t.match(again.stdout, /route api unchanged/, 'protecting again changes nothing')
  const routes = await new CaddyClient({ adminUrl: caddy.adminUrl }).get<unknown[]>('conductor-server/routes')
  t.equal(routes.length, 1, 'one route, not two')

  const printed = await cli([...args, '--print'])
  t.same(JSON.parse(printed.stdout), routes[0], '--print shows exactly what was registered')

  const off = await cli(['--root', root, '--caddy-admin', caddy.adminUrl, 'caddy', 'unprotect', 'api'])
  t.equal(off.code, 0, off.stderr)
  t.equal((await httpRequest(url)).status, 200, "route removed: Caddy's empty default answer")
  t.equal((await new CaddyClient({ adminUrl: caddy.adminUrl }).get<unknown[]>('conductor-server/routes')).length, 0)
})

t.test('caddy protect: usage errors and Caddy down', async t => {
  const root = tempDir(t)
  const badUp = await cli(['--root', root, 'caddy', 'protect', '--policy', 'ci', '--upstream', 'nowhere'])
  t.equal(badUp.code, 2)
  t.match(badUp.stderr, /--upstream nowhere: expected HOST:PORT/)
  const down = await cli([
    '--root',
    root,
    '--caddy-admin',
    'http://127.0.0.1:1',
    'caddy',
    'protect',
    '--policy',
    'ci',
    '--upstream',
    'static:hi'
  ])
  t.equal(down.code, 6)
  t.match(down.stderr, /cannot reach the Caddy admin API at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\)/)
})
