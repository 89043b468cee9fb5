import t from 'tap'
import { renderNatsConfig, renderRouteCa } from '../../../../conductor/cluster/nats-config.js'

// The NATS config as text (conductor/cluster/nats-config.ts); nats-server runs it in
// test/e2e/conductor/cluster/nats-server.test.ts.

const base = {
  serverName: 'a',
  clientPort: 4222,
  monitorPort: 8222,
  pidFile: '/run/conductor/nats.pid',
  storeDir: '/var/lib/conductor/nats',
  auth: { user: 'conductor', password: 'p1', system_user: 'system', system_password: 'p2' }
}

t.test('a lone host: no cluster block, loopback client port, passwords, JetStream', async t => {
  const text = renderNatsConfig(base)
  t.match(text, /^# Written by conductor/)
  t.match(text, 'listen: "127.0.0.1:4222"\nhttp: "127.0.0.1:8222"\n')
  t.match(text, 'CONDUCTOR { jetstream: enabled, users: [ { user: "conductor", password: "p1" } ] }')
  t.match(text, 'system_account: SYS')
  t.match(text, 'jetstream { store_dir: "/var/lib/conductor/nats", max_memory_store: 64MB }')
  t.notMatch(text, /cluster \{/)
  t.notMatch(renderNatsConfig({ ...base, monitorPort: 0 }), 'http:', 'monitor port 0: no monitoring listener')
})

t.test('clustered: pinned keys, sorted routes and pins, no route password, client URLs not advertised', async t => {
  const text = renderNatsConfig({
    ...base,
    cluster: {
      name: 'conductor-1',
      listen: '0.0.0.0:6222',
      advertise: '192.0.2.1:6222',
      certFile: '/c/route.crt',
      keyFile: '/k/peer.key',
      caFile: '/c/ca.pem',
      pins: ['bb', 'aa', 'bb'],
      routes: ['192.0.2.3:6222', '192.0.2.2:6222']
    }
  })
  t.match(
    text,
    'cluster {\n  name: "conductor-1"\n  listen: "0.0.0.0:6222"\n  advertise: "192.0.2.1:6222"\n  no_advertise: true\n'
  )
  t.match(text, '    verify: true\n    pinned_certs: ["aa", "bb"]\n')
  t.match(text, 'routes: ["nats-route://192.0.2.2:6222", "nats-route://192.0.2.3:6222"]')
  t.notMatch(text, /cluster \{[^}]*authorization/)
  t.equal(renderRouteCa(['B\n', 'A', 'B']), 'A\nB\n', 'the CA file: each certificate once, sorted')
})
