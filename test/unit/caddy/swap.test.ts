import t from 'tap'
import { planSwap, type Snippet } from '../../../caddy/index.js'

// The route switch of a deploy as one config change (caddy/swap.ts): planned on a copy of
// Caddy's config with the admin API's semantics. The real Caddy path is in test/e2e/caddy-client.

const route = (id: string, body: string): Record<string, unknown> => ({
  '@id': id,
  handle: [{ handler: 'static_response', body }]
})
const config = (routes: unknown[]): Record<string, unknown> => ({
  apps: { http: { servers: { s: { '@id': 'front', listen: [':1'], routes } } } }
})
const routesOf = (c: unknown): unknown[] =>
  (c as { apps: { http: { servers: { s: { routes: unknown[] } } } } }).apps.http.servers.s.routes
const snip = (id: string, body: string, target = 'front/routes'): Snippet => ({ id: target, config: route(id, body) })

t.test('swap cases', async t => {
  const cases: Array<{
    name: string
    routes: unknown[]
    add: Snippet[]
    remove: Snippet[]
    routesAfter: unknown[] | undefined
    added?: string[]
    removed?: string[]
  }> = [
    {
      name: "new route takes the old one's position",
      routes: [route('a', 'a'), route('old', 'v1'), route('z', 'z')],
      add: [snip('new', 'v2')],
      remove: [snip('old', 'v1')],
      routesAfter: [route('a', 'a'), route('new', 'v2'), route('z', 'z')],
      added: ['created'],
      removed: ['replaced']
    },
    {
      name: 'first deploy appends',
      routes: [route('a', 'a')],
      add: [snip('new', 'v2')],
      remove: [],
      routesAfter: [route('a', 'a'), route('new', 'v2')],
      added: ['created'],
      removed: []
    },
    {
      name: 'old route already gone: appended, old one absent',
      routes: [],
      add: [snip('new', 'v2')],
      remove: [snip('old', 'v1')],
      routesAfter: [route('new', 'v2')],
      added: ['created'],
      removed: ['absent']
    },
    {
      name: 'same @id kept and replaced in place',
      routes: [route('web', 'v1'), route('z', 'z')],
      add: [snip('web', 'v2')],
      remove: [snip('web', 'v1')],
      routesAfter: [route('web', 'v2'), route('z', 'z')],
      added: ['replaced'],
      removed: ['kept']
    },
    {
      name: 'unchanged',
      routes: [route('web', 'v1')],
      add: [snip('web', 'v1')],
      remove: [],
      routesAfter: [route('web', 'v1')],
      added: ['unchanged'],
      removed: []
    },
    {
      name: 'register_only stays, old extra route removed',
      routes: [route('old', 'v1'), route('old-admin', 'x'), { handle: [] }],
      add: [snip('new', 'v2')],
      remove: [
        snip('old', 'v1'),
        snip('old-admin', 'x'),
        { id: 'front/routes', config: { handle: [] }, register_only: true }
      ],
      routesAfter: [route('new', 'v2'), { handle: [] }],
      added: ['created'],
      removed: ['replaced', 'deleted', 'kept']
    },
    {
      name: 'unknown target: no plan (the caller falls back to single requests)',
      routes: [],
      add: [snip('new', 'v2', 'nowhere/routes')],
      remove: [],
      routesAfter: undefined
    }
  ]
  for (const c of cases) {
    const before = config(c.routes)
    const copy = structuredClone(before)
    const plan = planSwap(before, c.add, c.remove)
    t.same(before, copy, `${c.name}: the input is not modified`)
    if (c.routesAfter === undefined) {
      t.equal(plan, undefined, c.name)
      continue
    }
    t.same(routesOf(plan!.next), c.routesAfter, c.name)
    t.same(plan!.added, c.added, `${c.name}: added`)
    t.same(plan!.removed, c.removed, `${c.name}: removed`)
  }
})

t.test('a /config/ path target and an empty Caddy', async t => {
  const plan = planSwap(config([]), [{ id: '/config/apps/http/servers/s/routes', config: route('n', 'n') }], [])
  t.same(routesOf(plan!.next), [route('n', 'n')])
  t.equal(planSwap(null, [snip('n', 'n')], []), undefined, 'nothing loaded: no plan')
})
