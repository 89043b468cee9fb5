import t from 'tap'
import type { Snippet } from '../../../../caddy/index.js'
import { replicaGroup, routedSnippets, routesByGroup, sharedRoutes } from '../../../../conductor/proxy/replicas.js'
import { partOfDeployment } from '../../../../conductor/model/index.js'

// Replicas of a part behind one route: the route each replica's template prints (its own dial)
// and what Caddy should hold at that @id (every replica's upstream), with plain objects.

const route = (id: string, dial: string, extra: Record<string, unknown> = {}): Snippet => ({
  id: 'conductor-server/routes',
  config: {
    '@id': id,
    match: [{ host: ['web.example.org'] }],
    handle: [{ handler: 'reverse_proxy', upstreams: [{ dial }], ...extra }]
  }
})
const upstreamsOf = (s: Snippet | undefined): unknown =>
  (s?.config as { handle: Array<{ upstreams: unknown }> } | undefined)?.handle[0]?.upstreams

t.test('the replica group of an owner: service and part of a deployment, none for other owners', async t => {
  t.equal(partOfDeployment('web', 'web-api-lx1abc00zz'), 'api')
  t.equal(partOfDeployment('web', 'web-lx1abc00zz'), '')
  t.equal(partOfDeployment('my.web-1', 'my.web-1-api-lx1abc00zz'), 'api', 'a service name with dashes')
  t.equal(replicaGroup({ service: 'web', deployment: 'web-api-lx1abc00zz' }), 'web/api')
  t.equal(replicaGroup({ service: 'web', deployment: 'web-lx1abc00zz' }), 'web/')
  t.equal(replicaGroup({ service: 'web' }), undefined, 'a service owner shares nothing')
  t.equal(replicaGroup({ service: 'web', deployment: '' }), undefined)
})

t.test('one route per shared @id, the upstreams of every replica in owner order, each once', async t => {
  const shared = sharedRoutes([
    { owner: 'deployment@web-b', snippets: [route('web', '127.0.0.1:2'), route('own-b', '127.0.0.1:2')] },
    { owner: 'deployment@web-a', snippets: [route('web', '127.0.0.1:1')] },
    { owner: 'deployment@web-c', snippets: [route('web', '127.0.0.1:1')] }
  ])
  t.same(upstreamsOf(shared.get('web')), [{ dial: '127.0.0.1:1' }, { dial: '127.0.0.1:2' }], 'a before b; :1 once')
  t.same(shared.get('own-b'), route('own-b', '127.0.0.1:2'), 'an @id one replica prints is its snippet as is')
  const one = sharedRoutes([{ owner: 'deployment@web-a', snippets: [route('web', '127.0.0.1:1')] }])
  t.same(one.get('web'), route('web', '127.0.0.1:1'), 'a single replica: its own snippet, unchanged')
})

t.test('replicas printing a shared @id differently beyond its upstreams are refused, with the path', async t => {
  const a = route('web', '127.0.0.1:1', { headers: { request: { set: { 'X-Replica': ['a'] } } } })
  const b = route('web', '127.0.0.1:2', { headers: { request: { set: { 'X-Replica': ['b'] } } } })
  t.throws(
    () =>
      sharedRoutes(
        [
          { owner: 'deployment@web-a', snippets: [a] },
          { owner: 'deployment@web-b', snippets: [b] }
        ],
        '/srv/web/proxy.template'
      ),
    {
      code: 'CND_CADDY_SNIPPET_INVALID',
      file: '/srv/web/proxy.template',
      jsonPath: '/0/config/handle/0/headers/request/set/X-Replica/0',
      message: /the replicas of one part print this snippet differently \(deployment@web-a and deployment@web-b\)/
    }
  )
  const other = { ...route('web', '127.0.0.1:2'), id: '/config/apps/http/servers/x/routes' }
  t.throws(
    () =>
      sharedRoutes([
        { owner: 'deployment@web-a', snippets: [route('web', '127.0.0.1:1')] },
        { owner: 'deployment@web-b', snippets: [other] }
      ]),
    { code: 'CND_CADDY_SNIPPET_INVALID', jsonPath: '/0/id' },
    'another target'
  )
  const extraKey = route('web', '127.0.0.1:2', { flush_interval: -1 })
  t.throws(
    () =>
      sharedRoutes([
        { owner: 'deployment@web-a', snippets: [route('web', '127.0.0.1:1')] },
        { owner: 'deployment@web-b', snippets: [extraKey] }
      ]),
    { code: 'CND_CADDY_SNIPPET_INVALID', jsonPath: '/0/config/handle/0/flush_interval' },
    'a key only one replica prints'
  )
})

t.test('routedSnippets: the own snippets with shared ones in their place, each @id once', async t => {
  const own = [route('web', '127.0.0.1:1'), { id: '/config/x', config: 'domain', register_only: true }]
  t.same(routedSnippets(own, undefined), own, 'nothing shared: as printed')
  const merged = route('web', '127.0.0.1:1')
  ;(merged.config as { handle: Array<{ upstreams: unknown[] }> }).handle[0]!.upstreams.push({ dial: '127.0.0.1:2' })
  t.same(routedSnippets(own, new Map([['web', merged]])), [merged, own[1]])
})

t.test('routesByGroup: groups of deployment owners; a group whose replicas disagree is reported', async t => {
  const g = routesByGroup(
    [
      {
        owner: 'deployment@web-api-a',
        service: 'web',
        deployment: 'web-api-a',
        snippets: [route('api', '127.0.0.1:1')]
      },
      {
        owner: 'deployment@web-api-b',
        service: 'web',
        deployment: 'web-api-b',
        snippets: [route('api', '127.0.0.1:2')]
      },
      { owner: 'deployment@web-x-a', service: 'web', deployment: 'web-x-a', snippets: [route('x', '127.0.0.1:3')] },
      { owner: 'deployment@web-x-b', service: 'web', deployment: 'web-x-b', snippets: [route('x', '::1', { a: 1 })] },
      { owner: 'service@web', service: 'web', snippets: [route('api', '127.0.0.1:9')] }
    ],
    () => 'proxy.template'
  )
  t.same([...g.shared.keys()], ['web/api'])
  t.same(upstreamsOf(g.shared.get('web/api')!.get('api')), [{ dial: '127.0.0.1:1' }, { dial: '127.0.0.1:2' }])
  t.same([...g.failed.keys()], ['web/x'])
  t.match(g.failed.get('web/x')!.message, /^proxy\.template: \/0\/config\/handle\/0/)
})
