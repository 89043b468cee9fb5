import t from 'tap'
import type { Snippet } from '../../../../caddy/index.js'
import type { SnippetRecord } from '../../../../conductor/proxy/index.js'
import { describeCaddyAction, planCaddy, type CaddyDesired } from '../../../../conductor/reconcile/caddy-plan.js'

// The Caddy half of a reload's plan, with plain objects: desired owner records (rendered or
// reused), the records on disk, and Caddy's config as one GET returned it.

const route = (id: string, body = id): Snippet => ({
  id: 'conductor-server/routes',
  config: { '@id': id, handle: [{ body }] }
})
const kept: Snippet = { id: 'conductor-server/routes', config: { handle: [{ body: 'kept' }] }, register_only: true }
const rec = (owner: string, snippets: Snippet[], inputs = 'h1'): SnippetRecord => ({
  owner,
  service: owner.split('@')[1]!,
  caddy_admin: 'http://127.0.0.1:2019',
  inputs,
  updated_at: 'then',
  snippets
})
const next = (owner: string, snippets: Snippet[], inputs = 'h1'): Omit<SnippetRecord, 'updated_at'> => {
  const { updated_at: _, ...r } = rec(owner, snippets, inputs)
  return r
}
const caddy = (...routes: Snippet[]): unknown => ({
  apps: { http: { servers: { s: { '@id': 'conductor-server', routes: routes.map(r => r.config) } } } }
})
const desired = (owners: CaddyDesired['owners'], extra: Partial<CaddyDesired> = {}): CaddyDesired => ({
  owners,
  protected: [],
  failed: new Set(),
  ...extra
})
const records = (...rs: SnippetRecord[]): Map<string, SnippetRecord> => new Map(rs.map(r => [r.owner, r]))
const plan = (d: CaddyDesired, r: Map<string, SnippetRecord>, live: unknown): string[] =>
  planCaddy(d, r, live).map(describeCaddyAction)
const registers = (owner: string, why: string, n: number, stale = 0): string =>
  `register ${owner} (${why}): ${n} to register, ${stale} to remove`

t.test('records, templates and Caddy agree: nothing to do', async t => {
  const web = [route('web-route'), kept]
  t.same(plan(desired([next('service@web', web)]), records(rec('service@web', web)), caddy(...web)), [])
  t.same(
    plan(desired([next('service@none', [])]), records(), caddy()),
    [],
    'an owner without snippets and without record'
  )
})

t.test('Caddy restarted and lost its API-made routes: registered again from the record', async t => {
  const web = [route('web-route'), kept]
  const actions = planCaddy(desired([next('service@web', web)]), records(rec('service@web', web)), caddy())
  t.same(actions.map(describeCaddyAction), [registers('service@web', 'missing in Caddy', 2)])
  t.same(actions[0]!.kind === 'register' && actions[0].register, web)
  t.same(
    plan(desired([next('service@web', web)]), records(rec('service@web', web)), null),
    [registers('service@web', 'missing in Caddy', 2)],
    'an empty config (a Caddy started without any) too'
  )
  t.same(
    plan(desired([next('service@web', web)]), records(rec('service@web', web)), caddy(route('web-route'))),
    [registers('service@web', 'missing in Caddy', 1)],
    'only what is missing'
  )
})

t.test('changes of the template output', async t => {
  const cases: Array<[string, Snippet[], Snippet[], unknown, string[]]> = [
    ['a new owner', [], [route('a')], caddy(), [registers('service@web', 'new', 1)]],
    [
      'same @id, other content',
      [route('a', 'v1')],
      [route('a', 'v2')],
      caddy(route('a', 'v1')),
      [registers('service@web', 'changed', 1)]
    ],
    [
      'an @id dropped: removed from Caddy',
      [route('a'), route('b')],
      [route('a')],
      caddy(route('a'), route('b')),
      [registers('service@web', 'changed', 0, 1)]
    ],
    [
      'an @id dropped that Caddy no longer has',
      [route('a'), route('b')],
      [route('a')],
      caddy(route('a')),
      [registers('service@web', 'changed', 0, 0)]
    ],
    [
      'prints nothing now',
      [route('a'), kept],
      [],
      caddy(route('a'), kept),
      [registers('service@web', 'changed', 0, 1)]
    ],
    [
      'Caddy holds another version (edited by hand)',
      [route('a', 'v1')],
      [route('a', 'v1')],
      caddy(route('a', 'v0')),
      [registers('service@web', 'missing in Caddy', 1)]
    ]
  ]
  for (const [name, before, after, live, expected] of cases) {
    const r = before.length === 0 ? records() : records(rec('service@web', before))
    t.same(plan(desired([next('service@web', after)]), r, live), expected, name)
  }
})

t.test('other inputs, same output: only the record is written (no Caddy change)', async t => {
  const web = [route('a')]
  const actions = planCaddy(
    desired([next('service@web', web, 'h2')]),
    records(rec('service@web', web, 'h1')),
    caddy(...web)
  )
  t.same(actions.map(describeCaddyAction), [registers('service@web', 'record outdated', 0)])
  t.equal(actions[0]!.kind === 'register' && actions[0].record.inputs, 'h2')
})

t.test('owners that should have nothing now, and owners whose template failed', async t => {
  const web = [route('web-route'), kept]
  const gone = [route('gone-route'), kept]
  const broken = rec('service@broken', [route('broken-route')])
  const r = records(rec('service@web', web), rec('deployment@gone-1', gone), broken)
  const actions = planCaddy(
    desired([next('service@web', web)], { failed: new Set(['service@broken']) }),
    r,
    caddy(...web, route('gone-route'), route('broken-route'))
  )
  t.same(
    actions.map(describeCaddyAction),
    ['remove deployment@gone-1: 1 in Caddy'],
    'a failed template leaves its owner as it is'
  )
  t.same(actions[0]!.kind === 'remove-owner' && actions[0].remove, [route('gone-route')], 'register_only snippets stay')
  t.same(
    plan(desired([]), records(rec('deployment@gone-1', gone)), caddy()),
    ['remove deployment@gone-1: 0 in Caddy'],
    'the record goes even when Caddy has nothing of it'
  )
})

t.test('caddy protect routes are registered when Caddy lacks them', async t => {
  const p = route('p-route')
  t.same(plan(desired([], { protected: [p] }), records(), caddy(p)), [])
  t.same(plan(desired([], { protected: [p] }), records(), caddy()), ['register 1 protected route'])
})

t.test('pure: the inputs are not changed', async t => {
  const r = records(rec('service@web', [route('a'), route('b')]), rec('service@gone', [route('g')]))
  const live = caddy(route('a'), route('g'))
  const d = desired([next('service@web', [route('a', 'v2')])])
  const copies = structuredClone([[...r], live, d.owners])
  planCaddy(d, r, live)
  t.same([[...r], live, d.owners], copies)
})

t.test(
  'replicas: Caddy holds one route with every replica upstream; a replica leaving keeps it for the rest',
  async t => {
    const dialRoute = (dial: string): Snippet => ({
      id: 'conductor-server/routes',
      config: { '@id': 'web', handle: [{ handler: 'reverse_proxy', upstreams: [{ dial }] }] }
    })
    const both = dialRoute('127.0.0.1:1')
    ;(both.config as { handle: Array<{ upstreams: unknown[] }> }).handle[0]!.upstreams.push({ dial: '127.0.0.1:2' })
    const replica = (id: string, dial: string): SnippetRecord => ({
      ...rec(`deployment@${id}`, [dialRoute(dial)]),
      service: 'web',
      deployment: id
    })
    const a = replica('web-a', '127.0.0.1:1')
    const b = replica('web-b', '127.0.0.1:2')
    const strip = (r: SnippetRecord): Omit<SnippetRecord, 'updated_at'> => {
      const { updated_at: _, ...x } = r
      return x
    }
    const shared = (...rs: SnippetRecord[]) =>
      new Map([['web/', new Map([['web', rs.length === 1 ? rs[0]!.snippets[0]! : both]])]])
    t.same(
      planCaddy(desired([strip(a), strip(b)], { shared: shared(a, b) }), records(a, b), caddy(both)),
      [],
      'the shared route is in Caddy: converged'
    )
    const missing = planCaddy(
      desired([strip(a), strip(b)], { shared: shared(a, b) }),
      records(a, b),
      caddy(dialRoute('127.0.0.1:1'))
    )
    t.same(
      missing.map(x => (x.kind === 'register' ? x.register : [])),
      [[both], [both]],
      'a route holding one upstream is outdated: the shared one is registered (the second time unchanged)'
    )
    const down = planCaddy(desired([strip(a)], { shared: shared(a) }), records(a, b), caddy(both))
    t.same(down.map(describeCaddyAction), [
      registers('deployment@web-a', 'missing in Caddy', 1),
      'remove deployment@web-b: 0 in Caddy'
    ])
    t.same(
      down[0]!.kind === 'register' && down[0].register,
      [dialRoute('127.0.0.1:1')],
      'the route with replica a only'
    )
    t.same(
      planCaddy(desired([strip(a)]), records(a, b), caddy(both)).map(describeCaddyAction),
      [registers('deployment@web-a', 'missing in Caddy', 1), 'remove deployment@web-b: 1 in Caddy'],
      'without the replica view the leaving one would delete the route (the view is what keeps it)'
    )
  }
)
