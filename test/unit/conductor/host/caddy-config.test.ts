import t from 'tap'
import { conductorServer, isConductorCaddyConfig, renderCaddyConfig } from '../../../../conductor/host/caddy-config.js'
import { isCaddyListenAddress, listenPort } from '../../../../conductor/model/caddy-address.js'

// The caddy.json `system install` writes: the server every route goes into, on host.json
// caddy_listen, and which existing caddy.json files are Conductor's to rewrite.

t.test('the server: @id conductor-server, an empty route list, automatic HTTPS only with port 443', async t => {
  t.same(conductorServer(['127.0.0.1:8080']), {
    '@id': 'conductor-server',
    listen: ['127.0.0.1:8080'],
    routes: [],
    automatic_https: { disable: true }
  })
  t.same(conductorServer([':80', ':443']), { '@id': 'conductor-server', listen: [':80', ':443'], routes: [] })
  t.same(conductorServer(['tcp4/0.0.0.0:443']), { '@id': 'conductor-server', listen: ['tcp4/0.0.0.0:443'], routes: [] })
  t.same(conductorServer(['unix//run/caddy/http.sock']).automatic_https, { disable: true })
  const config = JSON.parse(renderCaddyConfig({ caddyAdmin: '127.0.0.1:2999', caddyListen: ['[::1]:8443'] }))
  t.same(config, {
    admin: { listen: '127.0.0.1:2999' },
    apps: { http: { servers: { conductor: conductorServer(['[::1]:8443']) } } }
  })
})

t.test("a caddy.json is Conductor's to rewrite only if Conductor wrote it", async t => {
  const cases: Array<[string, boolean, string]> = [
    [
      renderCaddyConfig({ caddyAdmin: 'localhost:2019', caddyListen: [':80', ':443'] }),
      true,
      "this version's rendering"
    ],
    [
      renderCaddyConfig({ caddyAdmin: '127.0.0.1:1', caddyListen: ['127.0.0.1:2'] }),
      true,
      'with other addresses (host.json changed since)'
    ],
    [
      JSON.stringify({ admin: { listen: 'localhost:2019' } }, null, 2) + '\n',
      true,
      'the admin-only file of earlier versions'
    ],
    [
      JSON.stringify({ admin: { listen: 'localhost:2019' }, logging: { logs: { default: { level: 'WARN' } } } }),
      false,
      'an operator added logging'
    ],
    [
      JSON.stringify({
        admin: { listen: 'x' },
        apps: { http: { servers: { conductor: { ...conductorServer([':80']), routes: [{ handle: [] }] } } } }
      }),
      false,
      'a route written in by hand'
    ],
    [JSON.stringify({ apps: {} }), false, 'no admin'],
    ['{ "admin": ', false, 'not JSON'],
    ['null', false, 'null']
  ]
  for (const [text, ours, why] of cases) t.equal(isConductorCaddyConfig(text), ours, why)
})

t.test("listen addresses: Caddy's syntax, a port in 1-65535", async t => {
  for (const ok of [
    ':80',
    '127.0.0.1:8080',
    'localhost:80',
    '[::1]:443',
    'tcp6/[::]:443',
    'tcp/:8080',
    'unix//run/caddy.sock'
  ])
    t.ok(isCaddyListenAddress(ok), ok)
  for (const bad of [
    '',
    '80',
    ':0',
    ':65536',
    'http://127.0.0.1:80',
    '127.0.0.1',
    'udp/:443',
    'unix/relative.sock',
    ' :80',
    '127.0.0.1:80/'
  ])
    t.notOk(isCaddyListenAddress(bad), JSON.stringify(bad))
  t.equal(listenPort('[::1]:443'), 443)
  t.equal(listenPort('unix//x'), undefined)
})
