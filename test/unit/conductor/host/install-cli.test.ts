import t from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { cli } from '../../../harness/cli.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// `system install --dry-run` prints the system-scope units and writes nothing; bad scope and
// host.json values are usage/input errors with the file named. The caddy.json it writes
// declares the server routes go into, on host.json caddy_listen.

t.test('system install --dry-run writes nothing and prints every unit', async t => {
  const root = tempDir(t)
  const r = await cli(['system', 'install', '--dry-run', '--scope', 'system', '--root', root])
  t.equal(r.code, 0, r.stderr)
  for (const f of [
    'conductor-service@.service',
    'conductor-deployment@.service',
    'conductor-gateway.service',
    'caddy.service',
    'caddy.json'
  ])
    t.match(r.stdout, f)
  t.notOk(existsSync(path.join(root, 'etc')), 'nothing written')
  const j = await cli(['system', 'install', '--dry-run', '--json', '--root', root], {
    CONDUCTOR_SCOPE: 'user',
    XDG_CONFIG_HOME: path.join(root, 'cfg')
  })
  const plan = JSON.parse(j.stdout) as { scope: string; files: Array<{ path: string }> }
  t.equal(plan.scope, 'user')
  t.ok(plan.files.some(f => f.path === path.join(root, 'cfg/systemd/user/conductor-deployment@.service')))
})

t.test('bad scope and bad host.json are reported', async t => {
  const root = tempDir(t)
  t.equal((await cli(['system', 'install', '--dry-run', '--scope', 'both', '--root', root])).code, 2)
  writeTree(root, { 'etc/conductor/host.json': { scope: 'galaxy' } })
  const r = await cli(['system', 'install', '--dry-run', '--root', root])
  t.equal(r.code, 3)
  t.match(r.stderr, /host\.json: \/scope: /)
})

t.test(
  'caddy.json declares "conductor-server" on host.json caddy_listen (default :80 and :443); ' +
    "an operator's caddy.json is kept",
  async t => {
    const root = tempDir(t)
    const env = { CONDUCTOR_SCOPE: 'user', XDG_CONFIG_HOME: path.join(root, 'cfg'), HOME: root }
    const planned = async (): Promise<unknown> => {
      const r = await cli(['system', 'install', '--dry-run', '--json', '--root', root], env)
      t.equal(r.code, 0, r.stderr)
      const files = (JSON.parse(r.stdout) as { files: Array<{ path: string; content: string }> }).files
      const file = files.find(f => f.path === path.join(root, 'etc/conductor/caddy.json'))
      return file === undefined ? undefined : JSON.parse(file.content)
    }
    const server = { '@id': 'conductor-server', listen: [':80', ':443'], routes: [] }
    t.match(await planned(), { apps: { http: { servers: { conductor: server } } } }, 'default listen')
    writeTree(root, { 'etc/conductor/host.json': { caddy_admin: '127.0.0.1:2999', caddy_listen: ['127.0.0.1:8080'] } })
    t.same(
      await planned(),
      {
        admin: { listen: '127.0.0.1:2999' },
        apps: {
          http: {
            servers: { conductor: { ...server, listen: ['127.0.0.1:8080'], automatic_https: { disable: true } } }
          }
        }
      },
      'host.json caddy_listen, plain HTTP on a port other than 443'
    )

    // A real install writes it (no user manager runs here: the daemon-reload that follows fails,
    // test/e2e/conductor/proxy/sync.test.ts does it for real); a changed caddy_listen rewrites it and says
    // how to load it.
    const caddyJson = path.join(root, 'etc/conductor/caddy.json')
    let r = await cli(['system', 'install', '--root', root], env)
    type Written = { apps: { http: { servers: { conductor: { listen: unknown } } } } }
    const listening = (): unknown =>
      (JSON.parse(readFileSync(caddyJson, 'utf8')) as Written).apps.http.servers.conductor.listen
    t.same(listening(), ['127.0.0.1:8080'])
    writeTree(root, { 'etc/conductor/host.json': { caddy_admin: '127.0.0.1:2999', caddy_listen: ['127.0.0.1:8081'] } })
    r = await cli(['system', 'install', '--root', root], env)
    t.same(listening(), ['127.0.0.1:8081'], 'rewritten: Conductor wrote it')
    t.match(
      r.stdout,
      /note: .*caddy\.json changed; a running Caddy keeps its config .*systemctl --user reload caddy\.service && conductor caddy sync --root /
    )

    // Written by hand (more than Conductor writes): never overwritten, not even planned.
    const own = JSON.stringify({
      admin: { listen: '127.0.0.1:2999' },
      logging: { logs: { default: { level: 'WARN' } } }
    })
    writeFileSync(caddyJson, own)
    t.equal(await planned(), undefined, "an operator's caddy.json is not in the plan")
    await cli(['system', 'install', '--root', root], env)
    t.equal(readFileSync(caddyJson, 'utf8'), own, 'and stays as it was')
  }
)

t.test('bad caddy_listen in host.json: the file, the JSON path and what is expected; nothing written', async t => {
  const root = tempDir(t)
  const cases: Array<[unknown, RegExp]> = [
    [
      ['127.0.0.1:8080', 'http://127.0.0.1:80'],
      /host\.json: \/caddy_listen\/1: "http:\/\/127\.0\.0\.1:80" is not a Caddy listen address: expected ":PORT", "HOST:PORT", "\[IPV6\]:PORT" or "unix\/\/PATH"/
    ],
    [[':70000'], /host\.json: \/caddy_listen\/0: ":70000" is not a Caddy listen address/],
    [[], /host\.json: \/caddy_listen: at least one address/],
    [[':80', ':80'], /host\.json: \/caddy_listen\/1: ":80" is listed twice/],
    [':80', /host\.json: \/caddy_listen: .*expected array/],
    [[80], /host\.json: \/caddy_listen\/0: .*expected string/]
  ]
  for (const [value, re] of cases) {
    writeTree(root, { 'etc/conductor/host.json': { scope: 'user', caddy_listen: value } })
    const r = await cli(['system', 'install', '--root', root], { XDG_CONFIG_HOME: path.join(root, 'cfg'), HOME: root })
    t.equal(r.code, 3, JSON.stringify(value))
    t.match(r.stderr, re, JSON.stringify(value))
    t.notOk(
      existsSync(path.join(root, 'etc/conductor/caddy.json')) || existsSync(path.join(root, 'cfg')),
      'nothing written'
    )
  }
})
