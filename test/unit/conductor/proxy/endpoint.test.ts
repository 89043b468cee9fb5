import path from 'node:path'
import t from 'tap'
import { z } from 'zod'
import { resolveCaddyAdmin } from '../../../../conductor/proxy/endpoint.js'
import { loadHostConfig } from '../../../../conductor/model/host.js'
import { hostJsonSchema, hostSchema } from '../../../../conductor/model/host-schema.js'
import { resolveRoots } from '../../../../conductor/model/roots.js'
import { cli } from '../../../harness/cli.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

t.test('Caddy endpoint: --caddy-admin, then env, then host.json, then the default', async t => {
  const root = tempDir(t)
  const roots = resolveRoots({ root })
  t.same(resolveCaddyAdmin({ env: {} }, await loadHostConfig(roots.hostFile)), {
    url: 'http://localhost:2019',
    source: 'default'
  })
  writeTree(root, {
    'etc/conductor/host.json': '{ // comments allowed\n "caddy_admin": "http://127.0.0.1:3019", "scope": "user", }'
  })
  const host = await loadHostConfig(roots.hostFile)
  t.same(resolveCaddyAdmin({ env: {} }, host), { url: 'http://127.0.0.1:3019', source: 'host.json' })
  t.same(resolveCaddyAdmin({ env: { CONDUCTOR_CADDY_ADMIN: 'http://127.0.0.1:4019' } }, host), {
    url: 'http://127.0.0.1:4019',
    source: 'env'
  })
  t.same(
    resolveCaddyAdmin(
      { env: { CONDUCTOR_CADDY_ADMIN: 'http://127.0.0.1:4019' }, caddyAdmin: 'unix//run/caddy.sock' },
      host
    ),
    { url: 'unix//run/caddy.sock', source: 'flag' }
  )
  const shown = await cli(['--root', root, '--caddy-admin', 'http://127.0.0.1:5019', 'caddy', 'endpoint', '--json'])
  t.same(JSON.parse(shown.stdout), { url: 'http://127.0.0.1:5019', source: 'flag' })
  const fromHost = await cli(['--root', root, 'caddy', 'endpoint'])
  t.equal(fromHost.stdout, 'http://127.0.0.1:3019 (host.json)\n')
})

t.test('host.json: every field, strict, errors with file and JSON path', async t => {
  const root = tempDir(t)
  const file = path.join(root, 'host.json')
  t.same(await loadHostConfig(file), {}, 'absent file: empty config')
  writeTree(root, {
    'host.json': {
      hostname: 'h1',
      resources: { VCPU: 4, GBRAM: 100 },
      gateway_listen: '127.0.0.1:2080',
      caddy_admin: 'http://localhost:2019',
      scope: 'system'
    }
  })
  t.same((await loadHostConfig(file)).resources, { VCPU: 4, GBRAM: 100 })
  const cases: Array<[object | string, RegExp]> = [
    [{ caddy_admn: 'x' }, /host\.json: \/caddy_admn: unknown field; did you mean "caddy_admin"\?/],
    [{ scope: 'root' }, /host\.json: \/scope: /],
    [{ resources: { VCPU: 'four' } }, /host\.json: \/resources\/VCPU: /],
    ['{ "hostname": ', /host\.json: line 1 column \d+: JSON syntax error/]
  ]
  for (const [content, re] of cases) {
    writeTree(root, { 'host.json': content })
    await t.rejects(loadHostConfig(file), { code: /^CND_HOST_(INVALID|SYNTAX)$/, message: re }, re.source)
  }
  const bad = await cli(['--root', root, 'caddy', 'endpoint'], {})
  t.equal(bad.code, 0, 'a root without etc/conductor/host.json is fine')
  for (const cmd of ['status', 'sync']) {
    const down = await cli(['--root', root, '--caddy-admin', 'http://127.0.0.1:1', 'caddy', cmd])
    t.equal(down.code, 6, `caddy ${cmd} with nothing declared still says Caddy is unreachable`)
    t.match(down.stderr, /CND_CADDY_UNREACHABLE|cannot reach the Caddy admin API at http:\/\/127\.0\.0\.1:1/)
  }
})

t.test('host.json schema documents every field', async t => {
  const schema = hostJsonSchema() as { properties: Record<string, { description?: string }> }
  for (const key of Object.keys(hostSchema.shape)) t.ok(schema.properties[key]?.description, `${key} described`)
  t.type(z.toJSONSchema(hostSchema), 'object')
})
