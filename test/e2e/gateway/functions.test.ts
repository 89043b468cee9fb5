import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t, { type Test } from 'tap'
import { buildGateway, type Authorizer } from '../../../gateway/index.js'
import type { Decision } from '../../../policies/index.js'
import { listenFunctions } from '../../../gateway/functions-listener.js'
import { resolveRoots } from '../../../conductor/model/index.js'
import { startCaddy, type CaddyHandle } from '../../harness/caddy.js'
import { binPath, cli, repoRoot } from '../../harness/cli.js'
import { startGatewayProcess } from '../../harness/gateway.js'
import { httpRequest, keptAliveGets } from '../../harness/http.js'
import { freePort, waitFor } from '../../harness/ports.js'
import { isAlive, processesWithEnv, zombieChildren } from '../../harness/procs.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

// Functions through the real gateway and a real Caddy, with real shell CGI fixtures
// (test/fixtures/functions). Each function is routed into Caddy with the output of
// `conductor function caddy-config`, as a proxy template would.

const fixtures = path.join(repoRoot, 'test/fixtures/functions')
const cgi = path.join(fixtures, 'cgi.sh')
const stdio = path.join(fixtures, 'stdio.sh')
const daemon = path.join(fixtures, 'daemon.mjs')

function service(suffix: string): object {
  return {
    app_name: 'fx',
    config: { FX_CONFIG: 'from-service' },
    functions: [
      { name: 'cgi', exec: [cgi], timeout_sec: 1, max_body_bytes: 1024 },
      { name: 'api', exec: [cgi], route: { path: '/api/*' } },
      { name: 'queue', exec: [cgi], max_workers: 1, max_queue: 1 },
      { name: 'stdio', format: 'http-stdio', mode: 'multi', min_warm: 2, max_requests: 4, exec: [stdio] },
      { name: 'daemon', mode: 'parallel', idle_timeout_sec: 0.5, exec: [daemon] },
      { name: 'storm', exec: [cgi], timeout_sec: 0.5, max_workers: 64, max_queue: 64 },
      { name: 'secret', exec: [cgi], policy: 'ops', response_headers: ['X-Fn: secret'] },
      {
        name: 'raw',
        exec: [cgi],
        path_info_strip: 3,
        no_response_headers: true,
        stderr_as_stdout: true,
        response_headers: ['Content-Type: text/x-raw']
      },
      { name: 'secretd', mode: 'parallel', exec: [daemon], policy: 'ops' }
    ].map(f => ({ ...f, name: f.name + suffix }))
  }
}

interface Setup {
  root: string
  gwPort: number
  caddy: CaddyHandle
  url: (p: string) => string
  gw: (p: string) => string
  app: Awaited<ReturnType<typeof buildGateway>>['app']
  functions: Awaited<ReturnType<typeof buildGateway>>['functions']
  state: Awaited<ReturnType<typeof buildGateway>>['state']
}

async function setup(
  t: Test,
  opts: { authorize?: Authorizer; caddy?: CaddyHandle; suffix?: string; spawner?: string | false } = {}
): Promise<Setup> {
  const root = tempDir(t, 'cnd-fn-')
  writeTree(root, { 'etc/conductor/services/fx/conductor-service.json': service(opts.suffix ?? '') })
  const roots = resolveRoots({ root })
  const { app, functions, state } = await buildGateway({
    roots,
    functionAuthorize: opts.authorize,
    cgiSpawner: opts.spawner ?? false,
    pressure: { maxEventLoopDelayMs: 0 }
  })
  t.teardown(async () => {
    await app.close()
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const gwPort = (app.server.address() as { port: number }).port
  const caddy = opts.caddy ?? (await startCaddy(t))
  return {
    root,
    gwPort,
    caddy,
    app,
    functions,
    state,
    url: p => `http://127.0.0.1:${caddy.httpPort}${p}`,
    gw: p => `http://127.0.0.1:${gwPort}${p}`
  }
}

async function route(t: Test, s: Setup, id: string, gateway = `127.0.0.1:${s.gwPort}`): Promise<void> {
  const out = await cli(['--root', s.root, 'function', 'caddy-config', '--gateway', gateway], {
    CONDUCTOR_FUNCTION_ID: id
  })
  t.equal(out.code, 0, `caddy-config ${id}: ${out.stderr}`)
  for (const snippet of JSON.parse(out.stdout) as Array<{ id: string; config: object }>) {
    const res = await adminPost(`${s.caddy.adminUrl}/id/${snippet.id}`, snippet.config)
    t.equal(res.status, 200, `route ${id} accepted by Caddy: ${res.body}`)
  }
}

/** Caddy restarts its admin server on each change: a kept-alive connection would break. */
async function adminPost(url: string, body: object): Promise<{ status: number; body: string }> {
  return await new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json', connection: 'close' } },
      res => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          text += c
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
      }
    )
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })
}

function envOf(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter(l => l.includes('='))
      .map(l => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)])
  )
}

t.test('CGI through Caddy and the gateway', async t => {
  const s = await setup(t)
  for (const id of ['fx-cgi', 'fx-api', 'fx-queue', 'fx-stdio', 'fx-daemon', 'fx-secret']) await route(t, s, id)

  t.test('RFC 3875 meta-variables', async t => {
    const res = await fetch(s.url('/.conductor/functions/fx-cgi/env?a=1&b=x%20y'), {
      headers: { 'X-Custom': 'v1', 'X-Conductor-Remote-User': 'forged', Authorization: 'Bearer nope' }
    })
    t.equal(res.status, 200)
    const env = envOf(await res.text())
    t.equal(env.GATEWAY_INTERFACE, 'CGI/1.1')
    t.equal(env.SERVER_PROTOCOL, 'HTTP/1.1')
    t.equal(env.REQUEST_METHOD, 'GET')
    t.equal(env.QUERY_STRING, 'a=1&b=x%20y', 'query string as sent, not decoded')
    t.equal(env.SCRIPT_NAME, '/.conductor/functions/fx-cgi')
    t.equal(env.PATH_INFO, '/env')
    t.equal(env.REMOTE_ADDR, '127.0.0.1', 'from X-Forwarded-For set by Caddy')
    t.equal(env.SERVER_NAME, '127.0.0.1')
    t.equal(env.SERVER_PORT, String(s.caddy.httpPort))
    t.equal(env.HTTP_X_CUSTOM, 'v1')
    t.equal(env.HTTP_AUTHORIZATION, undefined, 'credentials are not passed (RFC 3875 §4.1.18)')
    t.equal(env.HTTP_X_CONDUCTOR_REMOTE_USER, undefined, 'client-sent X-Conductor-* headers are stripped')
    t.equal(env.AUTH_TYPE, undefined, 'public function: no AUTH_TYPE')
    t.equal(env.REMOTE_USER, undefined)
    t.equal(env.CONTENT_LENGTH, undefined, 'GET: no CONTENT_LENGTH')
    t.equal(env.CONTENT_TYPE, undefined)
    t.equal(env.CONDUCTOR_FUNCTION_ID, 'fx-cgi')
    t.equal(env.FX_CONFIG, 'from-service', 'service variables')
    t.equal(env.CONDUCTOR_SERVICE_NAME, 'fx')
    const post = envOf(
      await (
        await fetch(s.url('/.conductor/functions/fx-cgi/env'), {
          method: 'POST',
          headers: { 'content-type': 'text/x-test' },
          body: 'abc'
        })
      ).text()
    )
    t.equal(post.REQUEST_METHOD, 'POST')
    t.equal(post.CONTENT_TYPE, 'text/x-test')
    t.equal(post.CONTENT_LENGTH, '3')
  })

  t.test('a declared route: PATH_INFO and SCRIPT_NAME from the route prefix', async t => {
    const env = envOf(await (await fetch(s.url('/api/env?q=1'))).text())
    t.equal(env.SCRIPT_NAME, '/api')
    t.equal(env.PATH_INFO, '/env')
    t.equal(env.QUERY_STRING, 'q=1')
    t.equal(env.CONDUCTOR_FUNCTION_ID, 'fx-api')
  })

  t.test('POST body streams into stdin', async t => {
    const body = 'hello ' + 'x'.repeat(900)
    const res = await fetch(s.url('/.conductor/functions/fx-cgi/echo'), { method: 'POST', body })
    t.equal(res.status, 200)
    t.equal(res.headers.get('x-content-length'), String(body.length))
    t.equal(await res.text(), body)
  })

  t.test('Location: client redirect, and local redirect served by the gateway', async t => {
    const res = await fetch(s.url('/.conductor/functions/fx-cgi/redirect'), { redirect: 'manual' })
    t.equal(res.status, 302)
    t.equal(res.headers.get('location'), 'https://example.org/elsewhere')
    const local = await fetch(s.url('/.conductor/functions/fx-cgi/local'), { redirect: 'manual' })
    t.equal(local.status, 200, 'local redirect answered in place')
    t.equal(envOf(await local.text()).QUERY_STRING, 'from=local')
  })

  t.test('Status: 404', async t => {
    const res = await fetch(s.url('/.conductor/functions/fx-cgi/notfound'))
    t.equal(res.status, 404)
    t.equal(await res.text(), 'nothing here\n')
  })

  t.test('slow output is seen before the script ends', async t => {
    const chunks: Array<{ text: string; at: number }> = []
    const started = Date.now()
    await new Promise<void>((resolve, reject) => {
      http
        .get(s.url('/api/slow'), res => {
          res.setEncoding('utf8')
          res.on('data', (c: string) => chunks.push({ text: c, at: Date.now() - started }))
          res.on('end', resolve)
        })
        .on('error', reject)
    })
    t.equal(chunks[0]?.text, 'first\n', 'the first line arrives on its own')
    t.equal(chunks.map(c => c.text).join(''), 'first\nsecond\n')
    t.ok(
      chunks.at(-1)!.at - chunks[0]!.at >= 500,
      `first chunk came well before the last (${chunks[0]!.at} ms vs ${chunks.at(-1)!.at} ms)`
    )
  })

  t.test('a crashing script gives 502', async t => {
    const res = await fetch(s.url('/.conductor/functions/fx-cgi/crash'))
    t.equal(res.status, 502)
    t.match(await res.json(), { error: 'CND_CGI_BAD_GATEWAY' })
  })

  t.test('a hanging script gives 504 and its process group is killed', async t => {
    const res = await fetch(s.url('/.conductor/functions/fx-cgi/hang'))
    t.equal(res.status, 504)
    t.match(await res.json(), { error: 'CND_CGI_TIMEOUT' })
    await waitFor(
      'no process of fx-cgi left',
      () => processesWithEnv('CONDUCTOR_FUNCTION_ID', 'fx-cgi').length === 0,
      3000
    )
    t.same(processesWithEnv('CONDUCTOR_FUNCTION_ID', 'fx-cgi'), [], 'the script and its background sleep are gone')
  })

  t.test('header injection (bare CR in a header) is refused', async t => {
    const res = await fetch(s.url('/.conductor/functions/fx-cgi/inject'))
    t.equal(res.status, 502)
    t.equal(res.headers.get('set-cookie'), null, 'no smuggled header')
    t.equal(res.headers.get('x-evil'), null)
  })

  t.test('oversized bodies get 413', async t => {
    const res = await fetch(s.url('/.conductor/functions/fx-cgi/echo'), { method: 'POST', body: 'x'.repeat(4096) })
    t.equal(res.status, 413, 'declared Content-Length above max_body_bytes')
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request(s.url('/.conductor/functions/fx-cgi/echo'), { method: 'POST' }, r => {
        r.resume()
        resolve(r.statusCode ?? 0)
      })
      req.on('error', reject)
      for (let i = 0; i < 8; i++) req.write('y'.repeat(512))
      req.end()
    })
    t.equal(chunked, 413, 'chunked body counted while streaming')
  })

  t.test('queue full: 503 with Retry-After', async t => {
    const all = await Promise.all(
      [0, 1, 2].map(async i => {
        await new Promise(resolve => setTimeout(resolve, i * 100))
        const r = await fetch(s.url('/.conductor/functions/fx-queue/slow'))
        return { status: r.status, retry: r.headers.get('retry-after'), body: await r.text() }
      })
    )
    t.same(all.map(a => a.status).sort(), [200, 200, 503], 'one running, one queued, one refused')
    t.equal(all.find(a => a.status === 503)?.retry, '1')
  })

  t.test('http-stdio keep-alive: one warm process serves several requests', async t => {
    const fn = s.functions.get('fx-stdio')!
    await waitFor('2 warm workers', () => fn.runner.stats().pids.length === 2)
    const warm = fn.runner.stats().pids
    const spawnedBefore = fn.runner.stats().spawned
    const pids: string[] = []
    for (let i = 0; i < 4; i++) {
      const res = await fetch(s.url(`/.conductor/functions/fx-stdio/item/${i}?k=v`), { method: 'POST', body: `b${i}` })
      const text = await res.text()
      t.match(text, new RegExp(`method=POST target=/.conductor/functions/fx-stdio/item/${i}\\?k=v body=b${i}$`))
      pids.push(/pid=(\d+)/.exec(text)![1]!)
    }
    t.equal(new Set(pids).size, 1, `the same process answered all four: ${pids.join(',')}`)
    t.ok(warm.includes(Number(pids[0])), `it was spawned before the first request (warm pids ${warm.join(',')})`)
    // max_requests 4: that worker is recycled now; the next request hits another warm one.
    await waitFor('2 warm workers again', () => fn.runner.stats().pids.length === 2)
    const idleBefore = fn.runner.stats().pids
    const next = /pid=(\d+)/.exec(await (await fetch(s.url('/.conductor/functions/fx-stdio/again'))).text())![1]!
    t.not(next, pids[0], 'recycled after max_requests')
    t.ok(
      idleBefore.includes(Number(next)),
      `served by a worker already waiting before the request (${next} in ${idleBefore.join(',')}): no spawn on the request path`
    )
    await waitFor('recycled worker gone', () => !isAlive(Number(pids[0])))
    t.ok(fn.runner.stats().spawned > spawnedBefore, 'the pool refilled itself after the requests')
  })

  t.test('parallel: daemon started on demand, scaled to zero when idle, and back', async t => {
    const fn = s.functions.get('fx-daemon')!
    t.equal(fn.runner.stats().workers, 0, 'nothing runs before the first request')
    const a = await Promise.all(
      [1, 2, 3].map(async () => await (await fetch(s.url('/.conductor/functions/fx-daemon/x'))).text())
    )
    const pidA = /pid=(\d+)/.exec(a[0]!)![1]!
    t.ok(
      a.every(x => x.includes(`pid=${pidA}`)),
      'one daemon served the concurrent requests'
    )
    await waitFor('scale to zero', () => fn.runner.stats().workers === 0, 5000)
    await waitFor('daemon process gone', () => !isAlive(Number(pidA)))
    const b = await (await fetch(s.url('/.conductor/functions/fx-daemon/y'))).text()
    const pidB = /pid=(\d+)/.exec(b)![1]!
    t.not(pidB, pidA, 'a new daemon after scaling to zero')
    t.match(b, /url=\/.conductor\/functions\/fx-daemon\/y/)
  })

  t.test('a function whose policy does not exist is denied (fail closed)', async t => {
    // The gateway's own policies decide (no policy file "ops" here): unknown policy -> 403.
    const direct = await fetch(s.gw('/.conductor/functions/fx-secret/env'), {
      headers: { authorization: 'Bearer anything' }
    })
    t.equal(direct.status, 403, 'the gateway listener refuses it')
    t.notMatch(await direct.text(), /GATEWAY_INTERFACE/, 'the function did not run')
    const viaCaddy = await fetch(s.url('/.conductor/functions/fx-secret/env'), {
      headers: { authorization: 'Bearer anything' }
    })
    t.equal(viaCaddy.status, 403, "Caddy's forward_auth to the real /auth does not let it through")
    t.notMatch(await viaCaddy.text(), /GATEWAY_INTERFACE/, 'the function did not run')
  })

  t.test('no_response_headers and stderr_as_stdout', async t => {
    const res = await fetch(s.gw('/.conductor/functions/fx-raw/raw'))
    t.equal(res.status, 200)
    t.equal(res.headers.get('content-type'), 'text/x-raw', 'type from response_headers')
    const text = await res.text()
    t.match(text, /to stdout/)
    t.match(text, /to stderr/, 'stderr joined the body')
  })

  t.test('a reload that changes a function replaces its runner; an unchanged one keeps its warm workers', async t => {
    const stdioBefore = s.functions.get('fx-stdio')!.runner
    const cgiBefore = s.functions.get('fx-cgi')!.runner
    const file = path.join(s.root, 'etc/conductor/services/fx/conductor-service.json')
    const svc = JSON.parse(readFileSync(file, 'utf8')) as { functions: Array<{ name: string; timeout_sec?: number }> }
    svc.functions.find(f => f.name === 'cgi')!.timeout_sec = 2
    writeFileSync(file, JSON.stringify(svc))
    t.ok((await s.state.reload()).ok)
    t.equal(s.functions.get('fx-stdio')!.runner, stdioBefore, 'unchanged function: same runner')
    t.not(s.functions.get('fx-cgi')!.runner, cgiBefore, 'changed function: new runner')
    t.equal(s.functions.get('fx-cgi')!.runner.spec.timeoutMs, 2000)
  })

  t.test('unknown function: 404', async t => {
    t.equal((await fetch(s.gw('/.conductor/functions/nope/x'))).status, 404)
  })
})

t.test('a protected function with an injected authorizer', async t => {
  // TEST SEAM: a tiny authorizer checking one fixed bearer token, standing in for policies/.
  // It only proves that the plugin calls it and honours the Decision it gives.
  const testAuthorizer: Authorizer = async ({ headers, policy, authorization }): Promise<Decision> => {
    const auth = String(headers.authorization ?? '')
    const deny = (status: 401 | 403, challenge?: string): Decision => ({
      allow: false,
      status,
      policy,
      reason: 'test',
      meta: {},
      authorizations: [],
      challenge
    })
    if (policy !== 'ops') return deny(403)
    if (auth === '') return deny(401, 'Bearer')
    if (auth !== 'Bearer test-token' || authorization?.startsWith('function:') !== true) return deny(403)
    const meta = { user: 'tester' }
    const authorizations = [authorization]
    return { allow: true, status: 200, policy, reason: 'test', meta, authorizations, subject: meta.user }
  }
  const s = await setup(t, { authorize: testAuthorizer })
  t.equal((await fetch(s.gw('/.conductor/functions/fx-secret/env'))).status, 401, 'no credential: 401')
  t.equal(
    (await fetch(s.gw('/.conductor/functions/fx-secret/env'), { headers: { authorization: 'Bearer wrong' } })).status,
    403,
    'wrong credential: 403'
  )
  const ok = await fetch(s.gw('/.conductor/functions/fx-secret/env'), {
    headers: { authorization: 'Bearer test-token', 'x-conductor-user': 'forged' }
  })
  t.equal(ok.status, 200)
  t.equal(ok.headers.get('x-fn'), 'secret', 'response_headers added')
  const env = envOf(await ok.text())
  t.equal(env.AUTH_TYPE, 'Bearer')
  t.equal(env.REMOTE_USER, 'tester', 'identity from the authorizer, not from the client')
  t.equal(env.HTTP_X_CONDUCTOR_USER, 'tester')
  const d = await (
    await fetch(s.gw('/.conductor/functions/fx-secretd/z'), { headers: { authorization: 'Bearer test-token' } })
  ).text()
  t.match(d, /user=tester/, 'a parallel daemon gets the identity as X-Conductor-Remote-User')
})

t.test('the function listener on a unix socket (mode 0660), dialed by Caddy', async t => {
  const s = await setup(t)
  const sock = path.join(tempDir(t, 'cnd-sock-'), 'functions.sock')
  const { close } = await listenFunctions(s.app, { kind: 'unix', path: sock })
  t.teardown(close)
  t.equal(statSync(sock).mode & 0o777, 0o660, 'only owner and group may connect')
  await route(t, s, 'fx-cgi', `unix:${sock}`)
  const env = envOf(await (await fetch(s.url('/.conductor/functions/fx-cgi/env'))).text())
  t.equal(env.CONDUCTOR_FUNCTION_ID, 'fx-cgi')
  t.equal(env.REMOTE_ADDR, '127.0.0.1')
})

t.test(
  "--functions-group gives the socket to the proxy's group (name or gid); an unknown group is refused",
  async t => {
    const s = await setup(t)
    const dir = tempDir(t, 'cnd-sockgrp-')
    // The caddy package creates a "caddy" group; fall back to a gid when a machine has none.
    const line = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find(l => l.startsWith('caddy:'))
    const [name, gid] =
      line !== undefined
        ? ['caddy', Number(line.split(':')[2])]
        : [String(process.getgid?.() ?? 0), process.getgid?.() ?? 0]
    const byName = await listenFunctions(s.app, { kind: 'unix', path: path.join(dir, 'a.sock') }, { group: name })
    t.teardown(byName.close)
    t.equal(statSync(path.join(dir, 'a.sock')).gid, gid, `socket group is ${name} (gid ${gid})`)
    t.equal(statSync(path.join(dir, 'a.sock')).mode & 0o777, 0o660)
    const byGid = await listenFunctions(s.app, { kind: 'unix', path: path.join(dir, 'b.sock') }, { group: String(gid) })
    t.teardown(byGid.close)
    t.equal(statSync(path.join(dir, 'b.sock')).gid, gid, 'a numeric gid works too')
    await t.rejects(
      listenFunctions(s.app, { kind: 'unix', path: path.join(dir, 'c.sock') }, { group: 'no-such-group-xyz' }),
      /--functions-group no-such-group-xyz: no such group/
    )
  }
)

t.test('no zombie or orphan after a storm of crashing and timing-out requests', async t => {
  const s = await setup(t)
  await route(t, s, 'fx-storm')
  const paths = [...Array(16).fill('crash'), ...Array(8).fill('hang'), ...Array(8).fill('echo')]
  const statuses = await Promise.all(
    paths.map(
      async p =>
        (await fetch(s.url(`/.conductor/functions/fx-storm/${p}`), p === 'echo' ? { method: 'POST', body: 'x' } : {}))
          .status
    )
  )
  t.same([...new Set(statuses)].sort(), [200, 502, 504], 'crashes 502, hangs 504, echoes 200')
  await waitFor(
    'every storm process gone',
    () => processesWithEnv('CONDUCTOR_FUNCTION_ID', 'fx-storm').length === 0,
    5000
  )
  t.same(
    processesWithEnv('CONDUCTOR_FUNCTION_ID', 'fx-storm'),
    [],
    'no orphan (the hang fixture forks a background sleep)'
  )
  await waitFor('no zombie', () => zombieChildren(process.pid).length === 0, 3000)
  t.same(zombieChildren(process.pid), [], 'no zombie child of the gateway')
})

t.test('conductor function ls says which functions are public', async t => {
  const root = tempDir(t, 'cnd-ls-')
  writeTree(root, { 'etc/conductor/services/fx/conductor-service.json': service('') })
  const out = await cli(['--root', root, 'function', 'ls', '--json'])
  t.equal(out.code, 0, out.stderr)
  const list = JSON.parse(out.stdout) as Array<{
    id: string
    public: boolean
    policy: string | null
    mode: string
    route: { path: string }
  }>
  t.match(
    list.find(f => f.id === 'fx-cgi'),
    { public: true, policy: null, mode: 'single', route: { path: '/.conductor/functions/fx-cgi/*' } }
  )
  t.match(
    list.find(f => f.id === 'fx-secret'),
    { public: false, policy: 'ops' }
  )
  t.match(
    list.find(f => f.id === 'fx-api'),
    { route: { path: '/api/*' } }
  )
  const table = await cli(['--root', root, 'function', 'ls'])
  t.match(table.stdout, /fx-cgi .*PUBLIC/)
  const missing = await cli(['--root', root, 'function', 'caddy-config'])
  t.equal(missing.code, 2, 'no id: usage error')
  const unknown = await cli(['--root', root, 'function', 'caddy-config', '--id', 'nope'])
  t.equal(unknown.code, 4)
})

t.test('single-shot CGI through the conductor-spawner fork server', async t => {
  const bin = path.join(tempDir(t, 'cnd-spawner-'), 'conductor-spawner')
  const cc = spawnSync('cc', ['-O2', '-Wl,-z,now', '-o', bin, path.join(repoRoot, 'cgi/spawner/conductor-spawner.c')], {
    encoding: 'utf8'
  })
  if (cc.status !== 0) {
    t.skip(`no C compiler: ${cc.stderr ?? cc.error?.message}`, () => {})
    return
  }
  const s = await setup(t, { spawner: bin })
  t.ok(await s.functions.spawner(), 'the fork server is up')
  await route(t, s, 'fx-cgi')
  await route(t, s, 'fx-storm')
  const env = envOf(
    await (await fetch(s.url('/.conductor/functions/fx-cgi/env?a=1'), { headers: { 'x-custom': 'v' } })).text()
  )
  t.match(env, {
    GATEWAY_INTERFACE: 'CGI/1.1',
    QUERY_STRING: 'a=1',
    PATH_INFO: '/env',
    HTTP_X_CUSTOM: 'v',
    CONDUCTOR_FUNCTION_ID: 'fx-cgi',
    FX_CONFIG: 'from-service'
  })
  const body = 'z'.repeat(1000)
  t.equal(
    await (await fetch(s.url('/.conductor/functions/fx-cgi/echo'), { method: 'POST', body })).text(),
    body,
    'body in, output out, over the one connection'
  )
  t.equal((await fetch(s.url('/.conductor/functions/fx-cgi/notfound'))).status, 404)
  t.equal((await fetch(s.url('/.conductor/functions/fx-cgi/crash'))).status, 502)
  t.equal((await fetch(s.url('/.conductor/functions/fx-cgi/hang'))).status, 504)
  const statuses = await Promise.all(
    [...Array(8).fill('crash'), ...Array(4).fill('hang'), ...Array(4).fill('pid')].map(
      async p => (await fetch(s.url(`/.conductor/functions/fx-storm/${p}`))).status
    )
  )
  t.same([...new Set(statuses)].sort(), [200, 502, 504])
  await waitFor(
    'every storm process gone',
    () =>
      processesWithEnv('CONDUCTOR_FUNCTION_ID', 'fx-storm').length === 0 &&
      processesWithEnv('CONDUCTOR_FUNCTION_ID', 'fx-cgi').length === 0,
    5000
  )
  t.same(processesWithEnv('CONDUCTOR_FUNCTION_ID', 'fx-storm'), [], 'no orphan left by the fork server')
  t.same(zombieChildren(process.pid), [], 'no zombie')

  // http-stdio workers come from the fork server too: their stdin/stdout is one socket.
  await route(t, s, 'fx-stdio')
  const fn = s.functions.get('fx-stdio')!
  await waitFor('2 warm workers', () => fn.runner.stats().pids.length === 2)
  const warm = fn.runner.stats().pids
  const parentOf = (pid: number): number =>
    Number(
      readFileSync(`/proc/${pid}/stat`, 'utf8')
        .replace(/^.*\) /s, '')
        .split(' ')[1]
    )
  t.ok(
    warm.every(pid => parentOf(pid) !== process.pid),
    `warm workers were forked by the fork server, not the gateway (parents ${warm.map(parentOf).join(',')})`
  )
  const pids: string[] = []
  for (let i = 0; i < 4; i++) {
    // Fresh connections: the route change just before closed Caddy's idle keep-alive ones.
    const text = (
      await httpRequest(s.url(`/.conductor/functions/fx-stdio/item/${i}`), { method: 'POST', body: `b${i}` })
    ).body
    t.match(text, new RegExp(`method=POST target=/.conductor/functions/fx-stdio/item/${i} body=b${i}$`))
    pids.push(/pid=(\d+)/.exec(text)![1]!)
  }
  t.equal(new Set(pids).size, 1, `one warm process answered all four over its socket: ${pids.join(',')}`)
  t.ok(warm.includes(Number(pids[0])), 'it was waiting before the first request')
  await waitFor('recycled after max_requests', () => !isAlive(Number(pids[0])))
  t.equal(
    (await httpRequest(s.url('/.conductor/functions/fx-stdio/crash'))).status,
    502,
    'a worker dying mid-request is a 502'
  )
  await waitFor('2 warm workers again', () => fn.runner.stats().pids.length === 2)
})

t.test(
  'conductor gateway --functions-listen (the compiled CLI): socket 0660, functions served, cleaned up on SIGTERM',
  async t => {
    if (!existsSync(binPath)) {
      t.skip('dist/ not built (npm run build)', () => {})
      return
    }
    const root = tempDir(t, 'cnd-gwcli-')
    const sock = path.join(tempDir(t, 'cnd-gwsock-'), 'f.sock')
    // The socket comes from host.json (the installed unit runs `conductor gateway` bare).
    writeTree(root, {
      'etc/conductor/services/fx/conductor-service.json': service(''),
      'etc/conductor/host.json': { functions_listen: `unix:${sock}`, functions_group: String(process.getgid?.() ?? 0) }
    })
    const cfg = await cli(['--root', root, 'function', 'caddy-config', '--id', 'fx-stdio'])
    t.match(cfg.stdout, `"dial": "unix/${sock}"`, 'function caddy-config routes to host.json functions_listen')
    const port = await freePort()
    const gw = spawn(
      process.execPath,
      [
        binPath,
        '--root',
        root,
        'gateway',
        '--listen',
        `127.0.0.1:${port}`,
        '--metrics-listen',
        'none',
        '--max-event-loop-delay',
        '0',
        '--log-level',
        'warn'
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] }
    )
    let stderr = ''
    gw.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    t.teardown(() => {
      if (gw.exitCode === null) gw.kill('SIGKILL')
    })
    await waitFor(`gateway socket (${stderr})`, () => existsSync(sock), 15_000)
    t.equal(statSync(sock).mode & 0o777, 0o660)
    const text = await new Promise<string>((resolve, reject) => {
      http
        .get({ socketPath: sock, path: '/.conductor/functions/fx-stdio/over-socket' }, res => {
          let b = ''
          res.on('data', (c: Buffer) => {
            b += c.toString()
          })
          res.on('end', () => resolve(b))
        })
        .on('error', reject)
    })
    t.match(text, /target=\/.conductor\/functions\/fx-stdio\/over-socket/)
    const exited = new Promise(resolve => gw.once('exit', resolve))
    gw.kill('SIGTERM')
    t.equal(await exited, 0, 'clean exit')
    t.notOk(existsSync(sock), 'socket removed')
    await waitFor(
      'warm workers stopped with the gateway',
      () => processesWithEnv('CONDUCTOR_FUNCTION_ID', 'fx-stdio').length === 0,
      5000
    )
    t.same(processesWithEnv('CONDUCTOR_FUNCTION_ID', 'fx-stdio'), [], 'no worker outlives the gateway')
  }
)

t.test('a gateway killed with SIGKILL leaves its socket directory behind; the next gateway removes it', async t => {
  if (!existsSync(binPath)) {
    t.skip('dist/ not built (npm run build)', () => {})
    return
  }
  const root = tempDir(t, 'cnd-gwkill-')
  writeTree(root, { 'etc/conductor/services/fx/conductor-service.json': service('') })
  const socketDirsOf = (pid: number): string[] => readdirSync(os.tmpdir()).filter(n => n.startsWith(`cnd-fn-${pid}-`))
  const start = async (): Promise<ChildProcess> =>
    (await startGatewayProcess(t, { env: { CONDUCTOR_ROOT: root } })).proc
  const first = await start()
  t.equal(socketDirsOf(first.pid!).length, 1, 'a gateway keeps its sockets in /tmp/cnd-fn-PID-*')
  const killed = new Promise(resolve => first.once('exit', resolve))
  first.kill('SIGKILL')
  await killed
  t.equal(socketDirsOf(first.pid!).length, 1, 'killed, it could not remove it')
  const second = await start()
  t.same(socketDirsOf(first.pid!), [], "the next gateway removed the dead one's directory")
  t.equal(socketDirsOf(second.pid!).length, 1, 'and has its own')
  const exited = new Promise(resolve => second.once('exit', resolve))
  second.kill('SIGTERM')
  t.equal(await exited, 0, 'clean exit')
  t.same(socketDirsOf(second.pid!), [], 'a gateway that stops removes its own')
})

t.test('a final status outside 200-599 is a 502; the kept-alive connection stays in step', async t => {
  const s = await setup(t)
  await route(t, s, 'fx-cgi')
  await route(t, s, 'fx-stdio')
  const cgiPaths = ['status/100', 'status/101', 'status/103', 'status/199', 'status/600', 'env'].map(
    p => `/.conductor/functions/fx-cgi/${p}`
  )
  // A worker's interim answers before its final one are legitimate: that one comes through.
  const stdioPaths = ['status/101', 'status/600', 'status/099', 'interim', 'after'].map(
    p => `/.conductor/functions/fx-stdio/${p}`
  )
  for (const [via, base] of [
    ['the gateway', s.gw('')],
    ['Caddy', s.url('')]
  ] as const) {
    const cgiAnswers = await keptAliveGets(base, cgiPaths, 3000)
    t.same(
      cgiAnswers.map(a => a.status),
      [502, 502, 502, 502, 502, 200],
      `via ${via}: CGI Status 100/101/103/199/600 are 502, the next request is answered`
    )
    t.same(
      cgiAnswers.flatMap(a => a.interim),
      [],
      `via ${via}: no 1xx reached the client`
    )
    t.match(
      cgiAnswers.at(-1)!.body,
      /GATEWAY_INTERFACE=CGI\/1\.1/,
      `via ${via}: the last answer is the last request's own`
    )
    t.equal(new Set(cgiAnswers.map(a => a.localPort)).size, 1, `via ${via}: all on one connection`)
    const stdioAnswers = await keptAliveGets(base, stdioPaths, 3000)
    t.same(
      stdioAnswers.map(a => a.status),
      [502, 502, 502, 200, 200],
      `via ${via}: worker status 101/600/099 are 502; 100+103 then 200 is a 200`
    )
    t.match(stdioAnswers[3]!.body, /target=\/.conductor\/functions\/fx-stdio\/interim /)
    t.match(stdioAnswers[4]!.body, /target=\/.conductor\/functions\/fx-stdio\/after /)
    t.equal(new Set(stdioAnswers.map(a => a.localPort)).size, 1, `via ${via}: all on one connection`)
  }
})

/** A GET that gives up after `ms` (status 0): a request never answered fails the test, not hangs it. */
async function getWithin(url: string, ms = 5000): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(ms) })
    return { status: res.status, body: await res.text() }
  } catch {
    return { status: 0, body: '' }
  }
}

/** The fork server built into a temp directory, or undefined without a C compiler. */
function buildSpawner(t: Test): string | undefined {
  const bin = path.join(tempDir(t, 'cnd-spawner-'), 'conductor-spawner')
  const source = path.join(repoRoot, 'cgi/spawner/conductor-spawner.c')
  const cc = spawnSync('cc', ['-O2', '-Wl,-z,now', '-o', bin, source], { encoding: 'utf8' })
  return cc.status === 0 ? bin : undefined
}

for (const via of ['child_process', 'the fork server'] as const) {
  t.test(`a request a function cannot be given is a 400 before anything runs (CGI through ${via})`, async t => {
    const bin = via === 'the fork server' ? buildSpawner(t) : false
    if (bin === undefined) {
      t.skip('no C compiler', () => {})
      return
    }
    const s = await setup(t, { spawner: bin })
    t.equal(await s.functions.spawner(), bin !== false, `single-shot CGI goes through ${via}`)
    for (const id of ['fx-cgi', 'fx-stdio', 'fx-daemon']) await route(t, s, id)
    const cgiRunner = s.functions.get('fx-cgi')!.runner
    const daemonRunner = s.functions.get('fx-daemon')!.runner
    for (const [name, base] of [
      ['the gateway', s.gw('')],
      ['Caddy', s.url('')]
    ] as const) {
      const fn = `${base}/.conductor/functions`
      const spawned = cgiRunner.stats().spawned
      const daemonStarts = daemonRunner.stats().spawned
      for (const p of ['/env%00', '/env%00x?a=1', '/%00/env']) {
        const r = await getWithin(`${fn}/fx-cgi${p}`)
        t.equal(r.status, 400, `via ${name}: fx-cgi${p} is answered 400`)
        t.match(r.body, /"error":"CND_CGI_BAD_REQUEST".*PATH_INFO holds a NUL byte/)
      }
      t.equal(cgiRunner.stats().spawned, spawned, `via ${name}: no process was started for them`)
      // Over HTTP (http-stdio, daemons) PATH_INFO travels in a header: no control may be in it.
      const controls = [
        'fx-stdio/a%00b',
        'fx-stdio/a%0D%0AX-Evil:%201',
        'fx-stdio/a%7F',
        'fx-daemon/a%00b',
        'fx-daemon/a%0Ab'
      ]
      for (const p of controls) {
        const r = await getWithin(`${fn}/${p}`)
        t.equal(r.status, 400, `via ${name}: ${p} is answered 400`)
        t.match(r.body, /"error":"CND_CGI_BAD_REQUEST".*PATH_INFO holds a NUL, CR, LF or other control/)
      }
      t.equal(daemonRunner.stats().spawned, daemonStarts, `via ${name}: no daemon was started for them`)
      // What can be passed is: a CGI gets a CR/LF or UTF-8 in PATH_INFO (the fixture echoes
      // an unknown path), and http-stdio workers and daemons get UTF-8 in X-Conductor-Path-Info.
      t.match(
        await getWithin(`${fn}/fx-cgi/a%0Ab`),
        { status: 400, body: 'unknown fixture path /a\nb\n' },
        `via ${name}: a CGI receives a decoded LF (its own 400)`
      )
      t.equal(
        (await getWithin(`${fn}/fx-cgi/caf%C3%A9`)).body,
        'unknown fixture path /café\n',
        `via ${name}: a CGI receives PATH_INFO's UTF-8`
      )
      t.match(
        await getWithin(`${fn}/fx-stdio/%E2%82%AC`),
        { status: 200, body: /target=\/.conductor\/functions\/fx-stdio\/%E2%82%AC / },
        `via ${name}: an http-stdio worker gets a non-Latin-1 PATH_INFO`
      )
      t.match(
        await getWithin(`${fn}/fx-daemon/caf%C3%A9/%E2%82%AC`),
        { status: 200, body: /path_info=\/café\/€$/ },
        `via ${name}: X-Conductor-Path-Info holds PATH_INFO's UTF-8 bytes`
      )
    }
  })

  t.test(`a function whose process cannot be started gets 502 at once, never a hang (through ${via})`, async t => {
    const bin = via === 'the fork server' ? buildSpawner(t) : false
    if (bin === undefined) {
      t.skip('no C compiler', () => {})
      return
    }
    const root = tempDir(t, 'cnd-fn-')
    // A NUL in a service variable: child_process.spawn throws synchronously, after the gateway
    // took the reply over; the fork server's frame cannot carry it either.
    writeTree(root, {
      'etc/conductor/services/nul/conductor-service.json': {
        config: { BROKEN: 'a\u0000b' },
        functions: [
          { name: 'cgi', exec: [cgi] },
          { name: 'stdio', format: 'http-stdio', exec: [stdio] }
        ]
      }
    })
    const roots = resolveRoots({ root })
    const gw = await buildGateway({ roots, cgiSpawner: bin, pressure: { maxEventLoopDelayMs: 0 } })
    t.teardown(async () => {
      await gw.app.close()
    })
    await gw.app.listen({ host: '127.0.0.1', port: 0 })
    t.equal(await gw.functions.spawner(), bin !== false)
    const base = `http://127.0.0.1:${(gw.app.server.address() as { port: number }).port}`
    for (const id of ['nul-cgi', 'nul-stdio']) {
      const r = await getWithin(`${base}/.conductor/functions/${id}/env`)
      t.equal(r.status, 502, `${id}: answered 502`)
      t.match(r.body, /"error":"CND_CGI_/)
      t.notMatch(r.body, /BROKEN|a\u0000b/, 'the variable is not shown to the client')
    }
    t.equal((await getWithin(`${base}/healthz`)).status, 200, 'the gateway still serves')
  })
}
