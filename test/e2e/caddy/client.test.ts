import t from 'tap'
import {
  CaddyClient,
  CaddyUnreachable,
  CaddyNotFound,
  deregisterSnippets,
  registerSnippet,
  registerSnippets,
  snippetState,
  swapSnippets,
  type Snippet
} from '../../../caddy/index.js'
import { startCaddy } from '../../harness/caddy.js'
import { freePort } from '../../harness/ports.js'
import { httpRequest } from '../../harness/http.js'

// caddy/ against a real Caddy 2.6.2 (test/harness/caddy.ts): CRUD by @id, idempotent
// registration, ETag-guarded concurrent writes, and what happens when Caddy is down.

const ROUTES = '/config/apps/http/servers/conductor/routes'
const route = (id: string, body: string): Record<string, unknown> => ({
  '@id': id,
  handle: [{ handler: 'static_response', body }]
})

t.test('CRUD by path and by @id', async t => {
  const caddy = await startCaddy(t)
  const c = new CaddyClient({ adminUrl: caddy.adminUrl })
  await c.post('conductor-server/routes', route('one', 'first'))
  t.same(await c.get('one'), route('one', 'first'), 'GET /id/one')
  t.equal((await httpRequest(`http://127.0.0.1:${caddy.httpPort}/`)).body, 'first', 'served')
  await c.patch('/id/one', route('one', 'patched'))
  t.equal(
    (await httpRequest(`http://127.0.0.1:${caddy.httpPort}/`)).body,
    'patched',
    'PATCH by @id takes effect at once'
  )
  await c.put(`${ROUTES}/0`, route('zero', 'zero'))
  t.same(
    (await c.get<Array<{ '@id': string }>>(ROUTES)).map(r => r['@id']),
    ['zero', 'one'],
    'PUT inserts at a position'
  )
  await c.delete('one')
  t.equal(await c.has('one'), false, 'deleted')
  t.equal(await c.has('zero'), true)
  await t.rejects(c.get('one'), {
    code: 'CND_CADDY_NOT_FOUND',
    message: /404 to GET \/id\/one.*unknown object ID 'one'/
  })
  await t.rejects(c.post('nope/routes', route('x', 'x')), CaddyNotFound, 'POST under an unknown @id')
  await c.load({
    admin: { listen: `127.0.0.1:${caddy.adminPort}` },
    apps: {
      http: {
        servers: {
          conductor: {
            '@id': 'conductor-server',
            listen: [`127.0.0.1:${caddy.httpPort}`],
            automatic_https: { disable: true },
            routes: [route('loaded', 'loaded')]
          }
        }
      }
    }
  })
  t.equal((await httpRequest(`http://127.0.0.1:${caddy.httpPort}/`)).body, 'loaded', 'load replaces the config')
  const bad = await c.post(ROUTES, { handle: [{ handler: 'no_such_handler' }] }).catch((e: unknown) => e)
  t.match(
    bad,
    { code: 'CND_CADDY_HTTP', status: 500, message: /500 to POST .*unknown module: http\.handlers\.no_such_handler/ },
    "Caddy's own error text is in the message"
  )
  t.same(await c.get('loaded'), route('loaded', 'loaded'), 'a refused change leaves the config as it was')
  const secret = (await c
    .post(ROUTES, {
      handle: [
        {
          handler: 'static_response',
          headers: { Authorization: ['Bearer sekret-token-1'] },
          body: 'sekret-body',
          bogus: 1
        }
      ]
    })
    .catch((e: unknown) => e)) as Error
  t.match(secret.message, /unknown field "bogus"/)
  t.notMatch(secret.message, /sekret/, 'the request body never appears in the error')
})

t.test("a deploy's route switch is one config change: the new route takes the old one's place", async t => {
  const caddy = await startCaddy(t)
  const c = new CaddyClient({ adminUrl: caddy.adminUrl })
  const at = (id: string, body: string): Snippet => ({
    id: 'conductor-server/routes',
    config: { ...route(id, body), match: [{ path: ['/'] }] }
  })
  await registerSnippets(c, [
    at('web-1', 'v1'),
    { id: 'conductor-server/routes', config: route('fallback', 'fallback') }
  ])
  t.equal((await httpRequest(`http://127.0.0.1:${caddy.httpPort}/`)).body, 'v1')
  const out = await swapSnippets(c, [at('web-2', 'v2')], [at('web-1', 'v1')])
  t.same(out, { added: ['created'], removed: ['replaced'], changes: 1 })
  t.same(
    (await c.get<Array<{ '@id': string }>>(ROUTES)).map(r => r['@id']),
    ['web-2', 'fallback'],
    'order kept: the new route did not land behind the catch-all'
  )
  t.equal((await httpRequest(`http://127.0.0.1:${caddy.httpPort}/`)).body, 'v2')
  t.same(
    await swapSnippets(c, [at('web-2', 'v2')], [at('web-1', 'v1')]),
    { added: ['unchanged'], removed: ['absent'], changes: 0 },
    'repeating it changes nothing'
  )
  const created = await swapSnippets(
    c,
    [{ id: '/config/apps/http/servers/conductor/logs', config: {}, register_only: true }],
    [at('web-2', 'v2')]
  )
  t.same(
    created,
    { added: ['created'], removed: ['deleted'], changes: 1 },
    'a missing key is created (POST semantics), the old route removed, still one change'
  )
  t.same(
    (await c.get<Array<{ '@id': string }>>(ROUTES)).map(r => r['@id']),
    ['fallback']
  )
})

t.test('registering twice replaces, never duplicates; register_only survives deregister', async t => {
  const caddy = await startCaddy(t)
  const c = new CaddyClient({ adminUrl: caddy.adminUrl })
  const snippets: Snippet[] = [
    { id: 'conductor-server/routes', config: route('web', 'v1') },
    {
      id: ROUTES,
      config: { match: [{ host: ['example.test'] }], handle: [{ handler: 'static_response', body: 'domain' }] },
      register_only: true
    }
  ]
  t.same(await registerSnippets(c, snippets), ['created', 'created'])
  t.same(await registerSnippets(c, snippets), ['unchanged', 'unchanged'], 'second registration changes nothing')
  snippets[0]!.config = route('web', 'v2')
  t.same(await registerSnippets(c, snippets), ['replaced', 'unchanged'])
  const routes = await c.get<unknown[]>(ROUTES)
  t.equal(routes.length, 2, 'still one route per snippet')
  t.equal((await httpRequest(`http://127.0.0.1:${caddy.httpPort}/`)).body, 'v2')
  t.equal(await snippetState(c, snippets[0]!), 'registered')
  t.same(await deregisterSnippets(c, snippets), ['deleted', 'kept'])
  t.same(await deregisterSnippets(c, snippets), ['absent', 'kept'], 'deregistering again is fine')
  const left = await c.get<Array<Record<string, unknown>>>(ROUTES)
  t.equal(left.length, 1, 'only the register_only snippet is left')
  t.equal(left[0]!['@id'], undefined)
  t.equal(await snippetState(c, snippets[0]!), 'missing')
  t.equal(await snippetState(c, snippets[1]!), 'registered', 'an id-less snippet is found by value')
})

t.test('a snippet may create a new object key (a whole server) and be removed by its @id', async t => {
  const caddy = await startCaddy(t)
  const c = new CaddyClient({ adminUrl: caddy.adminUrl })
  const port = await freePort()
  const s: Snippet = {
    id: '/config/apps/http/servers/extra',
    config: {
      '@id': 'extra-server',
      listen: [`127.0.0.1:${port}`],
      automatic_https: { disable: true },
      routes: [route('extra-route', 'extra')]
    }
  }
  t.equal(await registerSnippet(c, s), 'created')
  t.equal((await httpRequest(`http://127.0.0.1:${port}/`)).body, 'extra')
  t.equal(await registerSnippet(c, s), 'unchanged')
  t.same(await deregisterSnippets(c, [s]), ['deleted'])
  t.notOk(await c.has('/config/apps/http/servers/extra'), 'server removed')
  await t.rejects(
    registerSnippet(c, { id: '/config/apps/nope/servers/x', config: { '@id': 'x' } }),
    { code: /^CND_CADDY_/ },
    "a missing parent is Caddy's error, passed on"
  )
})

t.test("concurrent read-modify-writes do not lose each other's changes (ETag / If-Match)", async t => {
  const caddy = await startCaddy(t)
  // Two clients, as two conductor processes would be.
  const a = new CaddyClient({ adminUrl: caddy.adminUrl, maxAttempts: 50 })
  const b = new CaddyClient({ adminUrl: caddy.adminUrl, maxAttempts: 50 })
  const append = async (c: CaddyClient, id: string): Promise<void> => {
    await c.update<unknown[]>(ROUTES, async (current, etag) => {
      await c.patch(ROUTES, [...current, route(id, id)], etag)
    })
  }
  const ids = Array.from({ length: 12 }, (_, i) => `rmw-${i}`)
  await Promise.all(ids.map((id, i) => append(i % 2 === 0 ? a : b, id)))
  const got = (await a.get<Array<{ '@id': string }>>(ROUTES)).map(r => r['@id']).sort()
  t.same(got, [...ids].sort(), 'every one of 12 concurrent appends is there')

  // Without If-Match the same race loses writes: proves the test can see the bug.
  await a.patch(ROUTES, [])
  // Every writer reads before any writes (as happens when two processes overlap).
  const views = await Promise.all(ids.map(async (_, i) => await (i % 2 === 0 ? a : b).get<unknown[]>(ROUTES)))
  await Promise.all(ids.map(async (id, i) => await (i % 2 === 0 ? a : b).patch(ROUTES, [...views[i]!, route(id, id)])))
  t.ok((await a.get<unknown[]>(ROUTES)).length < ids.length, 'blind writes lose some (the race is real)')

  // The same snippet registered by two processes at once ends up there once.
  await a.patch(ROUTES, [])
  const s: Snippet = { id: 'conductor-server/routes', config: route('same', 'same') }
  const results = await Promise.all([
    registerSnippet(a, s),
    registerSnippet(b, s),
    registerSnippet(a, s),
    registerSnippet(b, s)
  ])
  t.equal(results.filter(r => r === 'created').length, 1, `one created, others unchanged: ${results.join(',')}`)
  t.equal((await a.get<unknown[]>(ROUTES)).length, 1, 'no duplicate')
})

t.test(
  'a writer that always loses the race gets CND_CADDY_CONFLICT, and nothing of its stale view is written',
  async t => {
    const caddy = await startCaddy(t)
    const loser = new CaddyClient({ adminUrl: caddy.adminUrl, maxAttempts: 3 })
    const other = new CaddyClient({ adminUrl: caddy.adminUrl })
    let n = 0
    const err = await loser
      .update<unknown[]>(ROUTES, async (current, etag) => {
        await other.post(ROUTES, route(`other-${n++}`, 'x')) // someone else writes in between, every time
        await loser.patch(ROUTES, [...current, route('mine', 'mine')], etag)
      })
      .catch((e: unknown) => e)
    t.match(err, { code: 'CND_CADDY_CONFLICT', message: /3 attempts/ })
    const ids = (await other.get<Array<{ '@id': string }>>(ROUTES)).map(r => r['@id'])
    t.same(
      ids,
      ['other-0', 'other-1', 'other-2'],
      "the other writer's changes are all there; the stale write never landed"
    )
  }
)

t.test('Caddy down: CND_CADDY_UNREACHABLE naming the URL, with a hint', async t => {
  const port = await freePort()
  const c = new CaddyClient({ adminUrl: `http://user:secret@127.0.0.1:${port}` })
  const err = await c.get('anything').catch((e: unknown) => e)
  t.ok(err instanceof CaddyUnreachable)
  t.match(err, {
    code: 'CND_CADDY_UNREACHABLE',
    message: new RegExp(`http://127\\.0\\.0\\.1:${port}.*ECONNREFUSED.*--caddy-admin`)
  })
  t.notMatch((err as Error).message, /secret/, 'URL userinfo never printed')
})

t.test("upstreams() reads Caddy's in-flight counters", async t => {
  const caddy = await startCaddy(t)
  const c = new CaddyClient({ adminUrl: caddy.adminUrl })
  const dead = await freePort()
  await c.post(ROUTES, {
    '@id': 'proxy',
    handle: [{ handler: 'reverse_proxy', upstreams: [{ dial: `127.0.0.1:${dead}` }] }]
  })
  const list = await c.upstreams()
  t.match(list, [{ address: `127.0.0.1:${dead}`, num_requests: 0, fails: Number }])
})
