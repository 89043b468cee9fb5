import t from 'tap'
import path from 'node:path'
import { buildGateway } from '../../../gateway/index.js'
import { resolveRoots } from '../../../conductor/model/index.js'
import { postCaddyConfig, startCaddy } from '../../harness/caddy.js'
import { cli, repoRoot } from '../../harness/cli.js'
import { httpRequest } from '../../harness/http.js'
import { makeKey, signToken } from '../../harness/jwt.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

// A function protected by a real policy file, end to end: Caddy -> forward_auth to the real
// gateway /auth -> the gateway's function route, which checks the same policy itself.

const cgi = path.join(repoRoot, 'test/fixtures/functions/cgi.sh')
const daemon = path.join(repoRoot, 'test/fixtures/functions/daemon.mjs')

t.test(
  'a function behind a bearer policy: 401 without, 403 without the authorization, 200 with, identity from the policy',
  async t => {
    const root = tempDir(t, 'cnd-fnpol-')
    writeTree(root, {
      'etc/conductor/services/shop/conductor-service.json': {
        functions: [{ name: 'admin', exec: [cgi], policy: 'ops' }]
      },
      'etc/conductor/policies/ops.json': {
        match: [
          {
            any: [
              {
                meta: { 'peer-id': 'ci-runner' },
                default_authorizations: { 'function:shop-admin': true },
                bearer: [{ token: 'good-token-1234567890' }]
              },
              {
                meta: { 'peer-id': 'reader' },
                default_authorizations: { read: true },
                bearer: [{ token: 'reader-token-1234567890' }]
              }
            ]
          }
        ]
      }
    })
    const roots = resolveRoots({ root })
    const gw = await buildGateway({ roots, pressure: { maxEventLoopDelayMs: 0 }, cgiSpawner: false })
    t.teardown(async () => {
      await gw.app.close()
    })
    await gw.app.listen({ host: '127.0.0.1', port: 0 })
    const gwPort = (gw.app.server.address() as { port: number }).port
    const caddy = await startCaddy(t)
    const out = await cli(['--root', root, 'function', 'caddy-config', '--gateway', `127.0.0.1:${gwPort}`], {
      CONDUCTOR_FUNCTION_ID: 'shop-admin'
    })
    t.equal(out.code, 0, out.stderr)
    for (const s of JSON.parse(out.stdout) as Array<{ id: string; config: object }>)
      await postCaddyConfig(`${caddy.adminUrl}/id/${s.id}`, s.config)

    const url = `http://127.0.0.1:${caddy.httpPort}/.conductor/functions/shop-admin/env`
    const none = await fetch(url)
    t.equal(none.status, 401)
    t.match(none.headers.get('www-authenticate'), /^Bearer/)
    t.notMatch(await none.text(), /GATEWAY_INTERFACE/, 'the function did not run')
    const reader = await fetch(url, { headers: { authorization: 'Bearer reader-token-1234567890' } })
    t.equal(reader.status, 403, "a valid token without the function's authorization")
    const ok = await fetch(url, {
      headers: {
        authorization: 'Bearer good-token-1234567890',
        'x-conductor-peer-id': 'forged',
        'x-conductor-subject': 'forged'
      }
    })
    t.equal(ok.status, 200)
    const env = await ok.text()
    t.match(env, /\nREMOTE_USER=ci-runner\n/, 'REMOTE_USER from the matched policy entry')
    t.match(env, /(^|\n)AUTH_TYPE=Bearer\n/)
    t.notMatch(env, /forged/, 'client-sent identity headers never reach the function')
    t.notMatch(env, /good-token/, "the credential is not in the function's environment")
    const direct = await fetch(`http://127.0.0.1:${gwPort}/.conductor/functions/shop-admin/env`)
    t.equal(direct.status, 401, 'the gateway listener checks the policy itself')

    // One decision per hop: Caddy's forward_auth asks /auth, the function route decides once.
    const decisions = async (): Promise<number> =>
      (await gw.metrics.registry.getSingleMetric('conductor_auth_decisions_total')!.get()).values.reduce(
        (n: number, v: { value: number }) => n + v.value,
        0
      )
    const good = { authorization: 'Bearer good-token-1234567890' }
    let before = await decisions()
    const onGateway = `http://127.0.0.1:${gwPort}/.conductor/functions/shop-admin/env`
    t.equal((await fetch(onGateway, { headers: good })).status, 200)
    t.equal((await decisions()) - before, 1, 'a request on the gateway listener is decided once')
    before = await decisions()
    t.equal((await fetch(url, { headers: good })).status, 200)
    t.equal((await decisions()) - before, 2, 'through Caddy: once for /auth, once by the function route')
  }
)

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
  t.teardown(async () => {
    await gw.app.close()
  })
  await gw.app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(gw.app.server.address() as { port: number }).port}/.conductor/functions`
  // Gives up after 5 s (status 0): a request never answered fails the test instead of hanging it.
  const get = async (id: string, sub: string): Promise<{ status: number; body: string }> => {
    const headers = { authorization: `Bearer ${await signToken(key, { sub })}` }
    try {
      const res = await fetch(`${base}/${id}/env`, { headers, signal: AbortSignal.timeout(5000) })
      return { status: res.status, body: await res.text() }
    } catch {
      return { status: 0, body: '' }
    }
  }
  const cgiNul = await get('shop-admin', 'a\u0000b')
  t.equal(cgiNul.status, 400, 'CGI: a NUL in sub cannot be in REMOTE_USER')
  t.match(cgiNul.body, /"error":"CND_CGI_BAD_REQUEST".*REMOTE_USER holds a NUL byte/)
  t.match(
    await get('shop-admin', 'zoë'),
    { status: 200, body: /\nREMOTE_USER=zoë\n/ },
    'CGI: UTF-8 in sub reaches REMOTE_USER'
  )
  for (const sub of ['a\u0000b', 'a\r\nX-Evil: 1']) {
    const r = await get('shop-admind', sub)
    t.equal(r.status, 400, `daemon: ${JSON.stringify(sub)} cannot be sent in X-Conductor-Remote-User`)
    t.match(r.body, /REMOTE_USER holds a NUL, CR, LF or other control/)
  }
  t.match(await get('shop-admind', 'alice'), { status: 200, body: /user=alice / })
})

t.test(
  "issue 13: a local redirect checks the target's own authorization; repeated Authorization refused; http-stdio and daemons get no credential",
  async t => {
    const root = tempDir(t, 'cnd-fnpol13-')
    const stdio = path.join(repoRoot, 'test/fixtures/functions/stdio.sh')
    const daemon = path.join(repoRoot, 'test/fixtures/functions/daemon.mjs')
    writeTree(root, {
      'etc/conductor/services/shop/conductor-service.json': {
        functions: [
          { name: 'a', exec: [cgi], policy: 'ops' },
          { name: 'b', exec: [cgi], policy: 'ops' },
          { name: 'pub', exec: [cgi] },
          { name: 'stdio', format: 'http-stdio', exec: [stdio], policy: 'ops' },
          { name: 'daemon', mode: 'parallel', exec: [daemon], policy: 'ops' },
          { name: 'pubstdio', format: 'http-stdio', exec: [stdio] }
        ]
      },
      'etc/conductor/policies/ops.json': {
        match: [
          {
            any: [
              {
                meta: { 'peer-id': 'only-a' },
                default_authorizations: { 'function:shop-a': true },
                bearer: [{ token: 'only-a-token-1234567890' }]
              },
              {
                meta: { 'peer-id': 'all' },
                default_authorizations: {
                  'function:shop-a': true,
                  'function:shop-b': true,
                  'function:shop-stdio': true,
                  'function:shop-daemon': true
                },
                bearer: [{ token: 'all-token-1234567890' }]
              }
            ]
          }
        ]
      }
    })
    const gw = await buildGateway({
      roots: resolveRoots({ root }),
      pressure: { maxEventLoopDelayMs: 0 },
      cgiSpawner: false
    })
    t.teardown(async () => {
      await gw.app.close()
    })
    await gw.app.listen({ host: '127.0.0.1', port: 0 })
    const gwPort = (gw.app.server.address() as { port: number }).port
    const caddy = await startCaddy(t)
    for (const id of ['shop-a', 'shop-b', 'shop-pub', 'shop-stdio', 'shop-daemon', 'shop-pubstdio']) {
      const out = await cli(['--root', root, 'function', 'caddy-config', '--gateway', `127.0.0.1:${gwPort}`], {
        CONDUCTOR_FUNCTION_ID: id
      })
      t.equal(out.code, 0, out.stderr)
      for (const s of JSON.parse(out.stdout) as Array<{ id: string; config: object }>)
        await postCaddyConfig(`${caddy.adminUrl}/id/${s.id}`, s.config)
    }
    const viaCaddy = (p: string): string => `http://127.0.0.1:${caddy.httpPort}/.conductor/functions/${p}`
    const direct = (p: string): string => `http://127.0.0.1:${gwPort}/.conductor/functions/${p}`
    const onlyA = { authorization: 'Bearer only-a-token-1234567890' }
    const all = { authorization: 'Bearer all-token-1234567890' }

    await t.test('local redirect from A to B (same policy)', async t => {
      t.equal((await fetch(viaCaddy('shop-a/env'), { headers: onlyA })).status, 200, 'the token grants function:shop-a')
      t.equal((await fetch(viaCaddy('shop-b/env'), { headers: onlyA })).status, 403, 'but not function:shop-b')
      for (const [where, url] of [
        ['through Caddy', viaCaddy('shop-a/to/shop-b/env')],
        ['on the gateway listener', direct('shop-a/to/shop-b/env')]
      ]) {
        const res = await fetch(url!, { headers: onlyA, redirect: 'manual' })
        const body = await res.text()
        t.equal(res.status, 302, `${where}: B is not served in place to a token without function:shop-b`)
        t.equal(
          res.headers.get('location'),
          '/.conductor/functions/shop-b/env?from=shop-a',
          `${where}: the client is sent there instead`
        )
        t.notMatch(body, /CONDUCTOR_FUNCTION_ID=shop-b/, `${where}: B did not run`)
      }
      const followed = await fetch(viaCaddy('shop-b/env?from=shop-a'), { headers: onlyA })
      t.equal(followed.status, 403, "following the redirect meets B's own policy")
      const allowed = await fetch(viaCaddy('shop-a/to/shop-b/env'), { headers: all, redirect: 'manual' })
      t.equal(allowed.status, 200, 'a token granting both gets B in place')
      const env = await allowed.text()
      t.match(env, /\nCONDUCTOR_FUNCTION_ID=shop-b\n/)
      t.match(env, /\nQUERY_STRING=from=shop-a\n/)
      t.match(env, /\nREMOTE_USER=all\n/, "identity from B's own decision")
      const toPublic = await fetch(viaCaddy('shop-a/to/shop-pub/env'), { headers: onlyA, redirect: 'manual' })
      t.equal(toPublic.status, 200, 'a public function is served in place, as before')
      t.match(await toPublic.text(), /\nCONDUCTOR_FUNCTION_ID=shop-pub\n/)
    })

    await t.test('two Authorization headers are refused, not decided on the first', async t => {
      const twice = { authorization: ['Bearer all-token-1234567890', 'Bearer only-a-token-1234567890'] }
      const caddyAnswer = await httpRequest(viaCaddy('shop-b/env'), { headers: twice })
      t.equal(caddyAnswer.status, 400, 'through Caddy: its forward_auth asks /auth, which refuses')
      t.notMatch(caddyAnswer.body, /GATEWAY_INTERFACE/, 'the function did not run')
      const gatewayAnswer = await httpRequest(direct('shop-b/env'), { headers: twice })
      t.equal(gatewayAnswer.status, 400, 'on the gateway listener')
      t.match(JSON.parse(gatewayAnswer.body), {
        error: 'CND_HEADER_REPEATED',
        message: 'repeated authorization header'
      })
      t.equal(
        (
          await httpRequest(direct('shop-b/env'), {
            headers: { ...all, origin: ['https://a.example', 'https://b.example'] }
          })
        ).status,
        400,
        'Origin too'
      )
      t.equal(
        (await httpRequest(viaCaddy('shop-b/env'), { headers: all })).status,
        200,
        'one Authorization header passes'
      )
    })

    await t.test(
      "http-stdio workers and daemons never receive Authorization or Proxy (as CGI's environment)",
      async t => {
        const headers = { ...all, proxy: 'http://attacker.example:3128', 'x-custom': 'kept' }
        for (const [what, id] of [
          ['http-stdio', 'shop-stdio'],
          ['parallel daemon', 'shop-daemon'],
          ['public http-stdio', 'shop-pubstdio']
        ]) {
          for (const [where, url] of [
            ['through Caddy', viaCaddy(`${id!}/headers`)],
            ['on the gateway listener', direct(`${id!}/headers`)]
          ]) {
            const res = await httpRequest(url!, { headers: { ...headers, 'proxy-authorization': 'Basic eDp5' } })
            t.equal(res.status, 200, `${what} ${where}: ${res.body}`)
            const names = (/headers=(.*)$/.exec(res.body)?.[1] ?? '').toLowerCase().split(/\s+/)
            t.ok(names.includes('x-custom'), `${what} ${where}: other headers pass (${names.join(' ')})`)
            t.notOk(names.includes('authorization'), `${what} ${where}: no Authorization`)
            t.notOk(names.includes('proxy'), `${what} ${where}: no Proxy (httpoxy)`)
            t.notOk(names.includes('proxy-authorization'), `${what} ${where}: no Proxy-Authorization`)
          }
        }
      }
    )
  }
)
