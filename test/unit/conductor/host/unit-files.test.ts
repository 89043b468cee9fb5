import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { resolveRoots } from '../../../../conductor/model/roots.js'
import { resolveScope } from '../../../../conductor/model/scope.js'
import { planInstall } from '../../../../conductor/host/install.js'
import { renderDeploymentDropIn, renderGatewaySocket, type UnitPaths } from '../../../../conductor/host/unit-files.js'
import { portVariables } from '../../../../conductor/host/ports.js'
import { tempDir } from '../../../harness/tmp.js'

// System-scope unit files as text, and through `systemd-analyze verify` (offline: no systemd
// PID 1 is needed to parse units).

const roots = resolveRoots({ root: '/' }, {})
const paths = (scope: 'system' | 'user'): UnitPaths => ({
  scope,
  deploymentsDir: roots.deployments,
  etcDir: roots.etc,
  libDir: roots.lib,
  runDir: roots.run,
  podman: '/usr/bin/podman',
  caddy: '/usr/bin/caddy',
  conductor: ['/usr/bin/node', '/usr/lib/conductor/dist/conductor/bin.js'],
  environment: {},
  caddyAdmin: 'localhost:2019',
  caddyListen: [':80', ':443'],
  gatewayListen: '127.0.0.1:2080'
})

t.test('scope resolution: flag, env, host.json, default', async t => {
  t.equal(resolveScope(undefined, {}, {}, roots).scope, 'system')
  t.equal(resolveScope(undefined, {}, {}, roots).unitsDir, '/etc/systemd/system')
  t.equal(resolveScope(undefined, {}, { scope: 'user' }, roots).scope, 'user')
  t.equal(resolveScope(undefined, { CONDUCTOR_SCOPE: 'system' }, { scope: 'user' }, roots).scope, 'system')
  const user = resolveScope('user', { XDG_CONFIG_HOME: '/x' }, {}, roots)
  t.same([user.unitsDir, user.systemctlArgs], ['/x/systemd/user', ['--user']])
  t.equal(
    resolveScope('system', {}, {}, resolveRoots({ root: '/tmp/r' }, {})).unitsDir,
    '/tmp/r/etc/systemd/system',
    '--root prefixes the system unit dir'
  )
  t.throws(() => resolveScope('both', {}, {}, roots), { code: 'CND_USAGE' })
})

t.test('system-scope units: text', async t => {
  const scope = resolveScope('system', {}, {}, roots)
  const plan = planInstall(paths('system'), scope, roots, false, false)
  const byName = Object.fromEntries(plan.files.map(f => [path.basename(f.path), f.content]))
  t.same(Object.keys(byName).sort(), [
    '50-conductor-caddy-sync.conf',
    'caddy.json',
    'caddy.service',
    'conductor-caddy-sync.service',
    'conductor-deployment-config@.service',
    'conductor-deployment@.service',
    'conductor-gateway.service',
    'conductor-gateway.socket',
    'conductor-nats.service',
    'conductor-service-config@.service',
    'conductor-service.json',
    'conductor-service@.service',
    'conductor-socket@.service',
    'conductor-sync.service',
    'proxy-config.template'
  ])
  // The cluster (issue 17): NATS reloads on SIGHUP; the fleet daemon runs the CLI; the built-in peer functions.
  t.match(
    byName['conductor-nats.service']!,
    'ExecStart=/usr/sbin/nats-server -c /etc/conductor/nats.conf\nExecReload=/bin/kill -HUP $MAINPID\n'
  )
  t.match(byName['conductor-sync.service']!, /After=conductor-nats\.service\nWants=conductor-nats\.service\n/)
  t.match(
    byName['conductor-sync.service']!,
    'ExecStart=/usr/bin/node /usr/lib/conductor/dist/conductor/bin.js _ fleet-daemon\nRestart=always\n'
  )
  const peers = JSON.parse(byName['conductor-service.json']!) as {
    functions: Array<{ name: string; exec: string[]; policy?: string; authorization?: string }>
  }
  t.same(
    peers.functions.map(f => [f.name, f.policy ?? null, f.authorization ?? null]),
    [
      ['add_peer', 'peers', 'peer-add'],
      ['remove_peer', 'peers', 'peer-list-write'],
      ['list_peers', 'peers', 'peer-list-read'],
      ['write_service', 'peers', 'service-write'],
      ['enable', 'peers', 'service-write'],
      ['disable', 'peers', 'service-write'],
      ['start', 'peers', 'service-write'],
      ['stop', 'peers', 'service-write'],
      ['identity', null, null]
    ],
    "the seed's peer and service functions behind the peers policy, identity public"
  )
  t.same(peers.functions[0]!.exec, [
    '/usr/bin/node',
    '/usr/lib/conductor/dist/conductor/bin.js',
    '_',
    'builtin',
    'add-peer'
  ])
  t.equal(
    plan.files.find(f => f.path.endsWith('proxy-config.template'))!.mode,
    0o755,
    'the proxy template is executable'
  )
  t.match(
    byName['50-conductor-caddy-sync.conf']!,
    'Wants=conductor-caddy-sync.service',
    'caddy.service pulls the sync unit in'
  )
  t.match(
    byName['conductor-caddy-sync.service']!,
    /ExecStart=\/usr\/bin\/node \/usr\/lib\/conductor\/dist\/conductor\/bin\.js caddy sync --wait 30\n/
  )
  const depl = byName['conductor-deployment@.service']!
  t.match(
    depl,
    'ExecStart=/usr/bin/podman kube play --replace --service-container=true /var/lib/conductor/deployments/%i/kube.yaml'
  )
  t.match(depl, 'ExecStopPost=-/usr/bin/podman pod rm -f -t 0 %i')
  for (const unit of ['conductor-deployment@.service', 'conductor-service@.service', 'conductor-gateway.service']) {
    t.match(
      byName[unit]!,
      /After=caddy\.service( conductor-gateway\.socket)?\nRequires=caddy\.service( conductor-gateway\.socket)?\n/,
      `${unit} depends on caddy`
    )
    t.match(byName[unit]!, 'WantedBy=multi-user.target')
  }
  t.match(
    byName['conductor-gateway.service']!,
    'ExecStart=/usr/bin/node /usr/lib/conductor/dist/conductor/bin.js gateway'
  )
  t.match(byName['conductor-gateway.service']!, 'ExecReload=/bin/kill -HUP $MAINPID')
  t.match(
    byName['conductor-gateway.service']!,
    /^Requires=caddy\.service conductor-gateway\.socket$/m,
    'the gateway takes its listening socket from systemd'
  )
  t.match(byName['conductor-gateway.service']!, /^Restart=on-failure\nRestartSec=200ms$/m)
  t.match(byName['conductor-gateway.service']!, /^CacheDirectory=conductor$/m, 'a restart finds the files it validated')
  t.match(byName['conductor-gateway.socket']!, /^\[Socket\]\nListenStream=127\.0\.0\.1:2080\n/m)
  t.match(
    renderGatewaySocket({ ...paths('system'), gatewayListen: 'unix:/run/conductor/gateway.sock' }),
    /^ListenStream=\/run\/conductor\/gateway\.sock\nSocketMode=0660$/m
  )
  t.same(
    JSON.parse(byName['caddy.json']!),
    {
      admin: { listen: 'localhost:2019' },
      apps: { http: { servers: { conductor: { '@id': 'conductor-server', listen: [':80', ':443'], routes: [] } } } }
    },
    'caddy.json: the admin API and the server routes go into, on :80 and :443 with automatic HTTPS'
  )
  t.notOk(
    planInstall(paths('system'), scope, roots, false, true).files.some(f => f.path.endsWith('caddy.json')),
    "an operator's caddy.json is kept"
  )
  t.notOk(
    planInstall(paths('system'), scope, roots, true, false).files.some(f => f.path.endsWith('caddy.service')),
    'an existing caddy.service is kept'
  )
  t.match(
    renderDeploymentDropIn('web', ['MemoryMax=1G']),
    /PartOf=conductor-service@web\.service\nAfter=conductor-service@web\.service\n\n\[Service\]\nMemoryMax=1G\n/
  )
})

t.test('system-scope units pass systemd-analyze verify', async t => {
  const dir = tempDir(t)
  const scope = { ...resolveScope('system', {}, {}, roots), unitsDir: dir }
  const plan = planInstall(paths('system'), scope, roots, false, false)
  for (const f of plan.files)
    if (f.path.startsWith(dir)) {
      mkdirSync(path.dirname(f.path), { recursive: true })
      writeFileSync(f.path, f.content)
    }
  // Templates are verified through an instance; the drop-in rides along.
  const instances = ['conductor-deployment@web-abc.service', 'conductor-service@web.service']
  for (const [inst, tmpl] of [
    [instances[0]!, 'conductor-deployment@.service'],
    [instances[1]!, 'conductor-service@.service']
  ] as const) {
    writeFileSync(path.join(dir, inst), plan.files.find(f => f.path.endsWith(tmpl))!.content)
  }
  mkdirSync(path.join(dir, `${instances[0]}.d`))
  writeFileSync(path.join(dir, `${instances[0]}.d/50-conductor.conf`), renderDeploymentDropIn('web', ['MemoryMax=1G']))
  const units = [
    ...instances,
    'conductor-gateway.service',
    'conductor-gateway.socket',
    'caddy.service',
    'conductor-caddy-sync.service',
    'conductor-nats.service',
    'conductor-sync.service'
  ].map(u => path.join(dir, u))
  const r = spawnSync('systemd-analyze', ['verify', ...units], {
    encoding: 'utf8',
    env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` }
  })
  // verify exits 0 on some warnings: any line naming our files is a problem.
  const problems = `${r.stdout}${r.stderr}`
    .split('\n')
    .filter(l => l.includes(dir) || /Unknown|Failed|Invalid/i.test(l))
  t.same(problems, [], 'no warning about our units')
  t.equal(r.status, 0)
})

t.test('port variables', async t => {
  t.same(portVariables(['http', 'admin'], { http: 10001, admin: 10002 }), {
    CONDUCTOR_PORT_HTTP: '10001',
    CONDUCTOR_PORT_ADMIN: '10002',
    CONDUCTOR_PORT: '10001'
  })
  t.same(portVariables([], {}), {})
})
