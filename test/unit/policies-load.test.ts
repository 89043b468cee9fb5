import path from 'node:path'
import t from 'tap'
import { loadPolicySet, policyJsonSchema, readPolicySource } from '../../policies/index.js'
import { tempDir, writeTree } from '../harness/tmp.js'

t.test('loads JSONC policy files and reports broken ones with file, JSON path and a hint', async t => {
  const dir = tempDir(t)
  writeTree(dir, {
    'good.json': '{ // comments and trailing commas are fine\n "match": [ { "bearer": [ { "token": "0123456789abcdef0123" }, ], }, ], }',
    'typo.json': { match: [{ any: [{ bearer: [{ tokn: '0123456789abcdef0123' }] }] }] },
    'two.json': { match: [{ bearer: [{ token: '0123456789abcdef0123', token_sha256: 'a'.repeat(64) }] }] },
    'syntax.json': '{ "match": [ }',
    'notes.txt': 'ignored'
  })
  const set = loadPolicySet(dir)
  t.same(set.names, ['good'])
  const lines = set.problems.map(p => `${path.basename(p.file ?? '')}: ${p.jsonPath ?? ''}: ${p.message}`)
  t.ok(lines.some(l => /^typo\.json: \/match\/0\/any\/0\/bearer\/0\/tokn: unknown field; did you mean "token"\?/.test(l)), lines.join('\n'))
  t.ok(lines.some(l => /^two\.json: \/match\/0\/bearer\/0: a bearer entry takes only one of token, token_sha256/.test(l)), lines.join('\n'))
  t.ok(lines.some(l => /^syntax\.json: : line 1 column 14: JSON syntax error/.test(l)), lines.join('\n'))
  t.notOk(lines.join('\n').includes('0123456789abcdef0123'), 'tokens are not echoed in errors')
  t.throws(() => readPolicySource(path.join(dir, 'missing.json')), { code: 'CND_POLICY_NOT_FOUND' })
  t.throws(() => readPolicySource(path.join(dir, 'typo.json')), { code: 'CND_POLICY_INVALID' })
  t.throws(() => readPolicySource(path.join(dir, 'syntax.json')), { code: 'CND_POLICY_SYNTAX' })
})

t.test('a missing policies directory is an empty set', async t => {
  t.equal(loadPolicySet('/nonexistent/policies').size, 0)
})

t.test('the JSON Schema describes every field', async t => {
  const schema = policyJsonSchema() as { $schema: string, properties: Record<string, unknown> }
  t.match(schema.$schema, /2020-12/)
  t.ok(schema.properties.match)
  t.match(JSON.stringify(schema), /token_sha256/)
  t.match(JSON.stringify(schema), /jwt_key_base64/)
})

t.test('every policy error has its own stable CND_POLICY_* code', async t => {
  const errors = await import('../../policies/errors.js')
  type ErrorClass = new (m: string) => Error & { code: string }
  const codes = (Object.values(errors) as unknown[])
    .filter((E): E is ErrorClass => typeof E === 'function' && (E as { prototype?: unknown }).prototype instanceof Error)
    .map(E => new E('x').code)
  t.ok(codes.length >= 8)
  t.ok(codes.every(c => /^CND_POLICY(_[A-Z_]+)?$/.test(c)), codes.join(' '))
  t.equal(new Set(codes).size, codes.length, 'no two classes share a code')
})
