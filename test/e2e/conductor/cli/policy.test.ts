import { chmodSync } from 'node:fs'
import t from 'tap'
import { cli } from '../../../harness/cli.js'
import { makeKey, signToken } from '../../../harness/jwt.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// `conductor policy check|ls` and `conductor schema policy`, in-process through the real CLI.

const TOKEN = 'cli-static-token-0123456789'
const es = makeKey('ES256')

t.test('policy check explains a decision and never echoes the token', async t => {
  const root = tempDir(t)
  writeTree(root, {
    'etc/conductor/policies/api.json': {
      match: [
        {
          meta: { 'peer-id': '9' },
          default_authorizations: { read: true },
          bearer: [{ token: TOKEN }, { public_key: es.pem }]
        }
      ]
    },
    'etc/conductor/policies/broken.json': { match: [{ bearer: [{ tokn: 'x' }] }] },
    'token.txt': `${TOKEN}\n`
  })
  const env = { CONDUCTOR_ROOT: root }

  const allow = await cli(['policy', 'check', 'api', '--token', TOKEN], env)
  t.equal(allow.code, 0, allow.stderr)
  t.match(allow.stdout, /decision\s+allow \(HTTP 200\)/)
  t.match(allow.stdout, /meta\.peer-id\s+9/)
  t.notOk(allow.stdout.includes(TOKEN) || allow.stderr.includes(TOKEN), 'token not echoed')

  const fromFile = await cli(
    ['policy', 'check', 'api', '--token-file', `${root}/token.txt`, '--authorization', 'write', '--json'],
    env
  )
  t.equal(fromFile.code, 1, 'denied: exit 1')
  const d = JSON.parse(fromFile.stdout) as { allow: boolean; status: number; reason: string }
  t.same([d.allow, d.status], [false, 403])
  t.match(d.reason, /does not grant "write"/)

  const jwt = await signToken(es)
  const j = await cli(['policy', 'check', 'api', '--token', jwt, '--json'], env)
  t.equal(j.code, 0)
  t.equal((JSON.parse(j.stdout) as { subject: string }).subject, 'alice')
  t.notOk(j.stdout.includes(jwt))

  const none = await cli(['policy', 'check', 'api'], env)
  t.equal(none.code, 1)
  t.match(none.stdout, /HTTP 401/)

  const invalid = await cli(['policy', 'check', 'broken', '--token', TOKEN], env)
  t.equal(invalid.code, 3)
  t.match(invalid.stderr, /broken\.json: \/match\/0\/bearer\/0\/tokn: unknown field; did you mean "token"\?/)

  const missing = await cli(['policy', 'check', 'nope', '--token', TOKEN], env)
  t.equal(missing.code, 4)
  t.match(missing.stderr, /no policy "nope".*known: api/)

  const ls = await cli(['policy', 'ls', '--json'], env)
  t.equal(ls.code, 3, 'ls exits 3 when a policy is broken')
  t.same(
    (JSON.parse(ls.stdout) as { policies: Array<{ name: string }> }).policies.map(p => p.name),
    ['api']
  )
})

t.test('policy check aligns its values past the longest label (issue 16 item 7)', async t => {
  const root = tempDir(t)
  writeTree(root, {
    'etc/conductor/policies/api.json': {
      match: [{ meta: { 'peer-id': '1', 'peer-hostname': 'peer-1.example.org' }, bearer: [{ token: TOKEN }] }]
    }
  })
  const r = await cli(['policy', 'check', 'api', '--token', TOKEN], { CONDUCTOR_ROOT: root })
  t.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trimEnd().split('\n')
  t.ok(lines.includes('meta.peer-hostname  peer-1.example.org'), r.stdout)
  const columns = lines.map(l => /^\S+ {2,}/.exec(l)?.[0].length)
  t.ok(
    columns.every(c => c === columns[0] && c !== undefined),
    `every value starts in one column:\n${r.stdout}`
  )
})

t.test(
  'policy ls and check warn about a plaintext token others can read, with the fix, not the token (item 11)',
  async t => {
    const root = tempDir(t)
    writeTree(root, {
      'etc/conductor/policies/api.json': { match: [{ bearer: [{ token_sha256: 'a'.repeat(64) }, { token: TOKEN }] }] },
      'etc/conductor/policies/hashed.json': { match: [{ bearer: [{ token_sha256: 'a'.repeat(64) }] }] }
    })
    const file = `${root}/etc/conductor/policies/api.json`
    chmodSync(file, 0o644)
    const env = { CONDUCTOR_ROOT: root }
    const warning = new RegExp(
      'conductor: warning: \\S*api\\.json: /match/0/bearer/1/token: plaintext token in a file everyone can ' +
        'read \\(mode 0644\\): chmod 600 \\S*api\\.json, or replace "token" with "token_sha256"'
    )
    const ls = await cli(['policy', 'ls'], env)
    t.equal(ls.code, 0, 'a warning, not an error')
    t.match(ls.stderr, warning)
    type Listed = { warnings: Array<{ file: string; path: string }> }
    const json = JSON.parse((await cli(['policy', 'ls', '--json'], env)).stdout) as Listed
    t.same(
      json.warnings.map(w => [w.file, w.path]),
      [[file, '/match/0/bearer/1/token']]
    )
    const check = await cli(['policy', 'check', 'api', '--token', TOKEN], env)
    t.equal(check.code, 0)
    t.match(check.stderr, warning)
    t.notOk(
      [ls, check].some(r => (r.stdout + r.stderr).includes(TOKEN)),
      'the token is never printed'
    )
    chmodSync(file, 0o600)
    t.equal((await cli(['policy', 'ls'], env)).stderr, '', 'chmod 600: no warning')
  }
)

t.test('schema policy prints the JSON Schema', async t => {
  const r = await cli(['schema', 'policy'])
  t.equal(r.code, 0)
  const schema = JSON.parse(r.stdout) as { properties: Record<string, unknown> }
  t.ok(schema.properties.match)
  const bad = await cli(['schema', 'nope'])
  t.equal(bad.code, 2)
})
