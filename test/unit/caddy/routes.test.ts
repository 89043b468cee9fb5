import t from 'tap'
import { IDENTITY_HEADERS, protectedRoute, publicRoute, RouteInvalid } from '../../../caddy/index.js'

const base = {
  id: 'api',
  policy: 'ci',
  gateway: '127.0.0.1:2080',
  host: ['api.example.org'],
  path: ['/deploy/*'],
  upstream: { dial: '127.0.0.1:9000' }
}

t.test('a protected route: strip, ask the gateway, copy identity, proxy', async t => {
  const route = protectedRoute({ ...base, authorization: 'service-write' }) as any
  t.equal(route['@id'], 'api')
  t.same(route.match, [{ host: ['api.example.org'], path: ['/deploy/*'] }])
  t.equal(route.terminal, true)
  const [strip, auth, upstream] = route.handle
  t.same(
    strip,
    { handler: 'headers', request: { delete: ['X-Conductor-*', 'X-Conductor_*', 'X_conductor*'] } },
    'client X-Conductor-* (and _ spellings) removed first'
  )
  t.equal(auth.handler, 'reverse_proxy')
  t.same(auth.upstreams, [{ dial: '127.0.0.1:2080' }])
  // What `caddy adapt` gives for forward_auth in 2.6.2, plus X-Forwarded-Host.
  t.same(auth.rewrite, { method: 'GET', uri: '/auth?policy=ci&authorization=service-write' })
  t.same(auth.headers.request.set, {
    'X-Forwarded-Method': ['{http.request.method}'],
    'X-Forwarded-Uri': ['{http.request.uri}'],
    'X-Forwarded-Host': ['{http.request.hostport}']
  })
  t.same(auth.handle_response[0].match, { status_code: [2] }, 'only 2xx is handled; 401/403 pass through')
  const [copy, ...unset] = auth.handle_response[0].routes
  t.same(Object.keys(copy.handle[0].request.set), [...IDENTITY_HEADERS])
  t.equal(copy.handle[0].request.set['X-Conductor-Subject'][0], '{http.reverse_proxy.header.X-Conductor-Subject}')
  t.equal(
    unset.length,
    IDENTITY_HEADERS.length,
    'a header the gateway did not send is removed, not left as placeholder text'
  )
  t.same(upstream, { handler: 'reverse_proxy', upstreams: [{ dial: '127.0.0.1:9000' }] })
})

t.test('static upstream, no matchers, custom headers', async t => {
  const route = protectedRoute({
    id: 'x',
    policy: 'p',
    gateway: 'unix//run/conductor/gateway.sock',
    upstream: { static: { body: 'hi' } },
    copyHeaders: ['X-Conductor-Subject']
  }) as any
  t.equal(route.match, undefined)
  t.same(route.handle[2], { handler: 'static_response', status_code: 200, body: 'hi' })
  t.same(route.handle[1].upstreams, [{ dial: 'unix//run/conductor/gateway.sock' }])
  t.equal(route.handle[1].rewrite.uri, '/auth?policy=p')
})

t.test('the policy name is query-encoded and validated', async t => {
  const cases: Array<[Partial<typeof base> & Record<string, unknown>, RegExp]> = [
    [{ policy: 'a&b' }, /policy: "a&b" is not a policy name/],
    [{ policy: '' }, /policy/],
    [{ id: 'a b' }, /id: "a b" is not a usable @id/],
    [{ gateway: 'http://x' }, /gateway: "http:\/\/x" is not a dial address/],
    [{ upstream: { dial: 'nope' } }, /upstream/],
    [{ copyHeaders: ['Authorization'] }, /only X-Conductor-\* headers/],
    [{ authorization: 'a\nb' }, /authorization/],
    [{ authorization: '' }, /authorization/],
    [{ authorization: 'x'.repeat(201) }, /authorization: .*\(1 to 200 characters/]
  ]
  for (const [over, re] of cases)
    t.throws(
      () => protectedRoute({ ...base, ...over } as any),
      { code: 'CND_CADDY_ROUTE_INVALID', message: re },
      re.source
    )
  t.throws(() => protectedRoute({ ...base, policy: '' }), RouteInvalid)
})

t.test('pure: same input, same JSON', async t => {
  t.same(protectedRoute(base), protectedRoute(base))
})

t.test(
  'an authorization name is any service-file name, query-encoded: no "&" or Caddy placeholder survives',
  async t => {
    const route = protectedRoute({ ...base, authorization: 'service write&x={http.request.header.A}' }) as any
    t.equal(
      route.handle[1].rewrite.uri,
      '/auth?policy=ci&authorization=service+write%26x%3D%7Bhttp.request.header.A%7D'
    )
  }
)

t.test(
  'the same builder for function and command routes: rewrite, streamed upstream, nothing copied; public routes',
  async t => {
    const route = protectedRoute({
      ...base,
      copyHeaders: [],
      rewrite: '/.conductor/functions/web-api{http.request.uri}',
      upstream: { dial: 'unix//run/f.sock', flushInterval: -1 }
    }) as any
    t.same(
      route.handle.map((h: { handler: string }) => h.handler),
      ['headers', 'reverse_proxy', 'rewrite', 'reverse_proxy']
    )
    t.same(
      route.handle[1].handle_response[0].routes,
      [{ handle: [{ handler: 'headers', request: { set: {} } }] }],
      'a 2xx continues to the upstream, copying nothing'
    )
    t.same(route.handle[2], { handler: 'rewrite', uri: '/.conductor/functions/web-api{http.request.uri}' })
    t.same(route.handle[3], { handler: 'reverse_proxy', upstreams: [{ dial: 'unix//run/f.sock' }], flush_interval: -1 })
    const open = publicRoute({ id: 'pub', path: ['/p/*'], upstream: { dial: '127.0.0.1:2080' } }) as any
    t.same(
      open.handle,
      [
        { handler: 'headers', request: { delete: ['X-Conductor-*', 'X-Conductor_*', 'X_conductor*'] } },
        { handler: 'reverse_proxy', upstreams: [{ dial: '127.0.0.1:2080' }] }
      ],
      'no question to the gateway, identity headers still stripped'
    )
    t.throws(() => publicRoute({ id: 'a/b', upstream: { dial: '127.0.0.1:1' } }), { code: 'CND_CADDY_ROUTE_INVALID' })
  }
)
