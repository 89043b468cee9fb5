import t from 'tap'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { cli } from '../harness/cli.js'
import { tempDir, writeTree } from '../harness/tmp.js'

// `system install --dry-run` prints the system-scope units and writes nothing; bad scope and
// host.json values are usage/input errors with the file named.

t.test('system install --dry-run writes nothing and prints every unit', async t => {
  const root = tempDir(t)
  const r = await cli(['system', 'install', '--dry-run', '--scope', 'system', '--root', root])
  t.equal(r.code, 0, r.stderr)
  for (const f of ['conductor-service@.service', 'conductor-deployment@.service', 'conductor-gateway.service', 'caddy.service', 'caddy.json']) t.match(r.stdout, f)
  t.notOk(existsSync(path.join(root, 'etc')), 'nothing written')
  const j = await cli(['system', 'install', '--dry-run', '--json', '--root', root], { CONDUCTOR_SCOPE: 'user', XDG_CONFIG_HOME: path.join(root, 'cfg') })
  const plan = JSON.parse(j.stdout) as { scope: string, files: Array<{ path: string }> }
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
