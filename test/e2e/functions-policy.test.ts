import t from 'tap'
import path from 'node:path'
import { buildGateway } from '../../gateway/index.js'
import { resolveRoots } from '../../conductor/index.js'
import { startCaddy } from '../harness/caddy.js'
import { cli, repoRoot } from '../harness/cli.js'
import { postCaddyConfig } from '../harness/forward-auth-route.js'
import { makeKey, signToken } from '../harness/jwt.js'
import { tempDir, writeTree } from '../harness/tmp.js'

// A function protected by a real policy file, end to end: Caddy -> forward_auth to the real
// gateway /auth -> the gateway's function route, which checks the same policy itself.

const cgi = path.join(repoRoot, 'test/fixtures/functions/cgi.sh')
const daemon = path.join(repoRoot, 'test/fixtures/functions/daemon.mjs')

t.test('a function behind a bearer policy: 401 without, 403 without the authorization, 200 with, identity from the policy', async t => {
  const root = tempDir(t, 'cnd-fnpol-')
  writeTree(root, {
    'etc/conductor/services/shop/conductor-service.json': { functions: [{ name: 'admin', exec: [cgi], policy: 'ops' }] },
    'etc/conductor/policies/ops.json': {
      match: [{
        any: [
          { meta: { 'peer-id': 'ci-runner' }, default_authorizations: { 'function:shop-admin': true }, bearer: [{ token: 'good-token-1234567890' }] },
          { meta: { 'peer-id': 'reader' }, default_authorizations: { read: true }, bearer: [{ token: 'reader-token-1234567890' }] }
        ]
      }]
    }
  })
  const roots = resolveRoots({ root })
  const gw = await buildGateway({ roots, pressure: { maxEventLoopDelayMs: 0 }, cgiSpawner: false })
  t.teardown(async () => { await gw.app.close() })
  await gw.app.listen({ host: '127.0.0.1', port: 0 })
  const gwPort = (gw.app.server.address() as { port: number }).port
  const caddy = await startCaddy(t)
  const out = await cli(['--root', root, 'function', 'caddy-config', '--gateway', `127.0.0.1:${gwPort}`], { CONDUCTOR_FUNCTION_ID: 'shop-admin' })
  t.equal(out.code, 0, out.stderr)
  for (const s of JSON.parse(out.stdout) as Array<{ id: string, config: object }>) await postCaddyConfig(`${caddy.adminUrl}/id/${s.id}`, s.config)

  const url = `http://127.0.0.1:${caddy.httpPort}/.conductor/functions/shop-admin/env`
  const none = await fetch(url)
  t.equal(none.status, 401)
  t.match(none.headers.get('www-authenticate'), /^Bearer/)
  t.notMatch(await none.text(), /GATEWAY_INTERFACE/, 'the function did not run')
  const reader = await fetch(url, { headers: { authorization: 'Bearer reader-token-1234567890' } })
  t.equal(reader.status, 403, 'a valid token without the function\'s authorization')
  const ok = await fetch(url, { headers: { authorization: 'Bearer good-token-1234567890', 'x-conductor-peer-id': 'forged', 'x-conductor-subject': 'forged' } })
  t.equal(ok.status, 200)
  const env = await ok.text()
  t.match(env, /\nREMOTE_USER=ci-runner\n/, 'REMOTE_USER from the matched policy entry')
  t.match(env, /(^|\n)AUTH_TYPE=Bearer\n/)
  t.notMatch(env, /forged/, 'client-sent identity headers never reach the function')
  t.notMatch(env, /good-token/, 'the credential is not in the function\'s environment')
  const direct = await fetch(`http://127.0.0.1:${gwPort}/.conductor/functions/shop-admin/env`)
  t.equal(direct.status, 401, 'the gateway listener checks the policy itself')
})

t.test('a token whose sub holds a NUL or a control is a 400 before the function runs; UTF-8 reaches it', async t => {
  // REMOTE_USER comes from the verified token's sub: the key holder chose those bytes.
  const key = makeKey('ES256')
  const root = tempDir(t, 'cnd-fnsub-')
  const grants = { 'function:shop-admin': true, 'function:shop-admind': true }
  writeTree(root, {
    'etc/conductor/services/shop/conductor-service.json': {
      functions: [
        { name: 'admin', exec: [cgi], policy: 'ops' },
        { name: 'admind', mode: 'parallel', exec: [daemon], policy: 'ops' }
      ]
    },
    'etc/conductor/policies/ops.json': {
      match: [{ default_authorizations: grants, bearer: [{ public_key: key.pem }] }]
    }
  })
  const roots = resolveRoots({ root })
  const gw = await buildGateway({ roots, pressure: { maxEventLoopDelayMs: 0 }, cgiSpawner: false })
  t.teardown(async () => { await gw.app.close() })
  await gw.app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(gw.app.server.address() as { port: number }).port}/.conductor/functions`
  // Gives up after 5 s (status 0): a request never answered fails the test instead of hanging it.
  const get = async (id: string, sub: string): Promise<{ status: number, body: string }> => {
    const headers = { authorization: `Bearer ${await signToken(key, { sub })}` }
    try {
      const res = await fetch(`${base}/${id}/env`, { headers, signal: AbortSignal.timeout(5000) })
      return { status: res.status, body: await res.text() }
    } catch { return { status: 0, body: '' } }
  }
  const cgiNul = await get('shop-admin', 'a\u0000b')
  t.equal(cgiNul.status, 400, 'CGI: a NUL in sub cannot be in REMOTE_USER')
  t.match(cgiNul.body, /"error":"CND_CGI_BAD_REQUEST".*REMOTE_USER holds a NUL byte/)
  t.match(await get('shop-admin', 'zoë'), { status: 200, body: /\nREMOTE_USER=zoë\n/ },
    'CGI: UTF-8 in sub reaches REMOTE_USER')
  for (const sub of ['a\u0000b', 'a\r\nX-Evil: 1']) {
    const r = await get('shop-admind', sub)
    t.equal(r.status, 400, `daemon: ${JSON.stringify(sub)} cannot be sent in X-Conductor-Remote-User`)
    t.match(r.body, /REMOTE_USER holds a NUL, CR, LF or other control/)
  }
  t.match(await get('shop-admind', 'alice'), { status: 200, body: /user=alice / })
})
