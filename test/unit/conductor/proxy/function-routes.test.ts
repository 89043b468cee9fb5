import t from 'tap'
import {
  describeFunction,
  literalSegments,
  type Service,
  type ServiceFunction
} from '../../../../conductor/model/index.js'
import { functionCaddySnippets } from '../../../../conductor/proxy/index.js'
import { serviceFileSchema, serviceJsonSchema } from '../../../../conductor/model/service-schema.js'

const svc = { name: 'web', functions: [] } as unknown as Service
const fn = (f: Partial<ServiceFunction>): ServiceFunction => ({ name: 'hook', format: 'cgi', exec: ['/x'], ...f })

t.test('literalSegments', async t => {
  for (const [p, n] of [
    ['/.conductor/functions/id/*', 3],
    ['/api/*', 1],
    ['/api/v1/*', 2],
    ['/*', 0],
    ['/exact/path', 2],
    ['/api*', 0]
  ] as const)
    t.equal(literalSegments(p), n, p)
})

t.test('a public function: path matcher, no forward_auth, reverse_proxy to the gateway', async t => {
  const info = describeFunction(svc, fn({}))
  t.match(info, {
    id: 'web-hook',
    isPublic: true,
    mode: 'single',
    pathInfoStrip: 3,
    authorization: 'function:web-hook'
  })
  const [snippet] = functionCaddySnippets(info, '127.0.0.1:2080')
  t.equal(snippet!.id, 'conductor-server/routes')
  const config = snippet!.config as { '@id': string; match: unknown[]; handle: Array<Record<string, unknown>> }
  t.equal(config['@id'], 'conductor-function-web-hook')
  t.same(config.match, [{ path: ['/.conductor/functions/web-hook', '/.conductor/functions/web-hook/*'] }])
  t.same(
    config.handle.map(h => h.handler),
    ['headers', 'reverse_proxy']
  )
  t.same(config.handle[1]!.upstreams, [{ dial: '127.0.0.1:2080' }])
})

t.test('a protected, routed function: forward_auth, rewrite, unix socket upstream', async t => {
  const info = describeFunction(svc, fn({ policy: 'ops', route: { host: ['api.example.org'], path: '/api/*' } }))
  t.match(info, { isPublic: false, pathInfoStrip: 1 })
  const config = functionCaddySnippets(info, 'unix:/run/conductor/functions.sock')[0]!.config as {
    match: unknown[]
    handle: Array<Record<string, unknown>>
  }
  t.same(config.match, [{ host: ['api.example.org'], path: ['/api/*'] }])
  t.same(
    config.handle.map(h => h.handler),
    ['headers', 'reverse_proxy', 'rewrite', 'reverse_proxy']
  )
  t.match(config.handle[1], {
    rewrite: { method: 'GET', uri: '/auth?policy=ops' },
    upstreams: [{ dial: 'unix//run/conductor/functions.sock' }]
  })
  t.match(config.handle[2], { uri: '/.conductor/functions/web-hook{http.request.uri}' })
  t.match(config.handle[3], { flush_interval: -1 })
})

t.test("function and command routes come from the product's one route builder (caddy/routes.ts)", async t => {
  const { protectedRoute, publicRoute } = await import('../../../../caddy/index.js')
  const { commandCaddySnippets } = await import('../../../../conductor/proxy/index.js')
  const info = describeFunction(svc, fn({ policy: 'ops' }))
  const path = ['/.conductor/functions/web-hook', '/.conductor/functions/web-hook/*']
  const upstream = { dial: '127.0.0.1:2080', flushInterval: -1 }
  t.same(
    functionCaddySnippets(info, '127.0.0.1:2080')[0]!.config,
    protectedRoute({
      id: 'conductor-function-web-hook',
      path,
      policy: 'ops',
      gateway: '127.0.0.1:2080',
      copyHeaders: [],
      upstream
    })
  )
  t.same(
    functionCaddySnippets(describeFunction(svc, fn({})), '127.0.0.1:2080')[0]!.config,
    publicRoute({ id: 'conductor-function-web-hook', path, upstream })
  )
  const shop = {
    name: 'shop',
    commands: { 'db:migrate': { service: true, exec: ['./m'], remote: { policy: 'ops' } }, local: { exec: ['./l'] } }
  } as unknown as Service
  const snippets = commandCaddySnippets(shop, '127.0.0.1:2080')
  t.equal(snippets.length, 1, 'only remote commands get a route')
  t.same(
    snippets[0]!.config,
    protectedRoute({
      id: 'conductor-command-shop-db_migrate',
      path: ['/.conductor/services/shop/commands/db:migrate'],
      policy: 'ops',
      authorization: 'command:shop:db:migrate',
      gateway: '127.0.0.1:2080',
      copyHeaders: [],
      upstream
    })
  )
})

t.test('schema: the new function fields', async t => {
  const ok = serviceFileSchema.safeParse({
    functions: [
      {
        mode: 'parallel',
        min_warm: 1,
        max_workers: 4,
        max_requests: 10,
        idle_timeout_sec: 5,
        timeout_sec: 2,
        max_body_bytes: 100,
        policy: 'ops',
        authorization: 'x',
        route: { host: ['h'], path: '/p/*' }
      }
    ]
  })
  t.ok(ok.success, JSON.stringify(ok.error?.issues))
  t.notOk(serviceFileSchema.safeParse({ functions: [{ mode: 'fast' }] }).success, 'unknown mode')
  t.notOk(serviceFileSchema.safeParse({ functions: [{ route: { path: 'no-slash' } }] }).success, 'relative route path')
  const json = JSON.stringify(serviceJsonSchema())
  for (const f of ['min_warm', 'max_workers', 'idle_timeout_sec', 'timeout_sec', 'max_body_bytes', 'policy', 'route'])
    t.ok(json.includes(`"${f}"`), `${f} in the JSON Schema`)
})

t.test('mode multi needs http-stdio (checked after inheritance, with the JSON path)', async t => {
  const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const { resolveService } = await import('../../../../conductor/model/index.js')
  const dir = mkdtempSync(join(tmpdir(), 'cnd-mm-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'conductor-service.json')
  writeFileSync(file, JSON.stringify({ functions: [{ exec: ['/x'], mode: 'multi' }] }))
  await t.rejects(resolveService('s', file), { code: 'CND_SERVICE_INVALID', jsonPath: '/functions/0/mode' })
})
