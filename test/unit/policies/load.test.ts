import { chmodSync, rmSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import {
  compilePolicies,
  loadPolicySet,
  policyJsonSchema,
  readPolicySource,
  type PolicyProblem
} from '../../../policies/index.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

t.test('loads JSONC policy files and reports broken ones with file, JSON path and a hint', async t => {
  const dir = tempDir(t)
  writeTree(dir, {
    'good.json':
      '{ // comments and trailing commas are fine\n "match": [ { "bearer": [ { "token": "0123456789abcdef0123" }, ], }, ], }',
    'typo.json': { match: [{ any: [{ bearer: [{ tokn: '0123456789abcdef0123' }] }] }] },
    'two.json': { match: [{ bearer: [{ token: '0123456789abcdef0123', token_sha256: 'a'.repeat(64) }] }] },
    'syntax.json': '{ "match": [ }',
    'notes.txt': 'ignored'
  })
  const set = await loadPolicySet(dir)
  t.same(set.names, ['good'])
  const lines = set.problems.map(p => `${path.basename(p.file ?? '')}: ${p.jsonPath ?? ''}: ${p.message}`)
  t.ok(
    lines.some(l => /^typo\.json: \/match\/0\/any\/0\/bearer\/0\/tokn: unknown field; did you mean "token"\?/.test(l)),
    lines.join('\n')
  )
  t.ok(
    lines.some(l => /^two\.json: \/match\/0\/bearer\/0: a bearer entry takes only one of token, token_sha256/.test(l)),
    lines.join('\n')
  )
  t.ok(
    lines.some(l => /^syntax\.json: : line 1 column 14: JSON syntax error/.test(l)),
    lines.join('\n')
  )
  t.notOk(lines.join('\n').includes('0123456789abcdef0123'), 'tokens are not echoed in errors')
  await t.rejects(readPolicySource(path.join(dir, 'missing.json')), { code: 'CND_POLICY_NOT_FOUND' })
  await t.rejects(readPolicySource(path.join(dir, 'typo.json')), { code: 'CND_POLICY_INVALID' })
  await t.rejects(readPolicySource(path.join(dir, 'syntax.json')), { code: 'CND_POLICY_SYNTAX' })
})

const SHA = 'b'.repeat(64)
const BAD_PEM = '-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----'

/** `FILE: /json/path: message` lines, with the file's base name. */
function describe(problems: readonly PolicyProblem[]): string[] {
  return problems.map(p => `${path.basename(p.file ?? '')}: ${p.jsonPath ?? ''}: ${p.message}`)
}

t.test('a missing policies directory is an empty set', async t => {
  t.equal((await loadPolicySet('/nonexistent/policies')).size, 0)
})

t.test('the JSON Schema describes every field', async t => {
  const schema = (await policyJsonSchema()) as { $schema: string; properties: Record<string, unknown> }
  t.match(schema.$schema, /2020-12/)
  t.ok(schema.properties.match)
  t.match(JSON.stringify(schema), /token_sha256/)
  t.match(JSON.stringify(schema), /jwt_key_base64/)
})

t.test('every policy error has its own stable CND_POLICY_* code', async t => {
  const errors = await import('../../../policies/errors.js')
  type ErrorClass = new (m: string) => Error & { code: string }
  // PolicyError is the abstract base of the others (a code only on the concrete classes).
  const codes = (Object.values(errors) as unknown[])
    .filter(
      (E): E is ErrorClass => typeof E === 'function' && (E as { prototype?: unknown }).prototype instanceof Error
    )
    .filter(E => E !== (errors.PolicyError as unknown))
    .map(E => new E('x').code)
  t.ok(codes.length >= 7)
  t.ok(
    codes.every(c => /^CND_POLICY(_[A-Z_]+)?$/.test(c)),
    codes.join(' ')
  )
  t.equal(new Set(codes).size, codes.length, 'no two classes share a code')
})

t.test('an empty all/any/none (or one of skip: true matchers only) is a load error with file and path', async t => {
  const dir = tempDir(t)
  writeTree(dir, {
    'none-empty.json': { match: [{ none: [] }] },
    'none-skip.json': { match: [{ none: [{ skip: true, bearer: [{ token_sha256: 'a'.repeat(64) }] }] }] },
    'all-empty.json': { match: [{ all: [], always: true }] },
    'any-skip.json': { match: [{ any: [{ always: true }, { any: [{ skip: true, always: true }] }] }] },
    'ok.json': { match: [{ none: [{ skip: true, always: true }, { origin: ['https://evil.example'] }] }] }
  })
  const set = await loadPolicySet(dir)
  t.same(set.names, ['ok'], 'a list with one real matcher beside skipped ones is fine')
  const lines = describe(set.problems).sort()
  t.match(lines, [
    /^all-empty\.json: \/match\/0\/all: "all" needs at least one matcher that is not skip: true \(empty, it would/,
    /^any-skip\.json: \/match\/0\/any\/1\/any: "any" needs at least one matcher/,
    /^none-empty\.json: \/match\/0\/none: "none" needs at least one .*\(empty, it would match every request, anonymous/,
    /^none-skip\.json: \/match\/0\/none: "none" needs/
  ])
  t.equal(lines.length, 4, lines.join('\n'))
  // Sources built in code (not from files) are held to the same rule by the compiler.
  const { problems } = compilePolicies([{ name: 'c', file: 'c.json', data: { match: [{ always: true, none: [] }] } }])
  t.same(
    problems.map(p => `${p.jsonPath}`),
    ['/match/0/none']
  )
})

t.test('pin_subject needs meta.subject; jwks_url over http:// only on loopback', async t => {
  const dir = tempDir(t)
  const jwks = (url: string): object => ({ match: [{ bearer: [{ jwks_url: url }] }] })
  writeTree(dir, {
    'pin.json': { match: [{ pin_subject: true, meta: { 'peer-id': '1' }, always: true }] },
    'plain.json': jwks('http://idp.example/jwks.json'),
    'plain-ip.json': jwks('http://10.0.0.5:8080/jwks.json'),
    'lookalike.json': jwks('http://127.0.0.1.nip.io/jwks.json'),
    'v4.json': jwks('http://127.0.0.1:9999/jwks.json'),
    'v4b.json': jwks('http://127.8.9.10/jwks.json'),
    'v6.json': jwks('http://[::1]:9999/jwks.json'),
    'localhost.json': jwks('http://localhost:9999/jwks.json'),
    'tls.json': jwks('https://idp.example/jwks.json')
  })
  const set = await loadPolicySet(dir)
  t.same(set.names, ['localhost', 'tls', 'v4', 'v4b', 'v6'])
  const lines = describe(set.problems).sort()
  t.match(lines, [
    /^lookalike\.json: \/match\/0\/bearer\/0\/jwks_url: http:\/\/ is accepted only on loopback .*use https:\/\//,
    /^pin\.json: \/match\/0\/pin_subject: pin_subject needs meta\.subject/,
    /^plain-ip\.json: \/match\/0\/bearer\/0\/jwks_url: http:\/\/ is accepted only on loopback/,
    /^plain\.json: \/match\/0\/bearer\/0\/jwks_url: http:\/\/ is accepted only on loopback/
  ])
})

t.test('a plaintext token in a file others can read: a warning naming file and path, not the token', async t => {
  const dir = tempDir(t)
  const token = 'plaintext-token-0123456789'
  writeTree(dir, {
    'open.json': {
      match: [{ any: [{ never: true, always: true }, { bearer: [{ token_sha256: SHA }, { token }, { token }] }] }]
    },
    'group.json': { match: [{ bearer: [{ token }] }] },
    'closed.json': { match: [{ bearer: [{ token }] }] },
    'hashed.json': { match: [{ bearer: [{ token_sha256: 'c'.repeat(64) }] }] }
  })
  chmodSync(path.join(dir, 'open.json'), 0o644)
  chmodSync(path.join(dir, 'group.json'), 0o640)
  chmodSync(path.join(dir, 'closed.json'), 0o600)
  chmodSync(path.join(dir, 'hashed.json'), 0o644)
  const set = await loadPolicySet(dir)
  t.same(set.names, ['closed', 'group', 'hashed', 'open'], 'a warning, not an error: the policy is served')
  t.same(set.problems, [])
  const lines = describe(set.warnings)
  t.match(lines, [
    /^group\.json: \/match\/0\/bearer\/0\/token: plaintext token in a file its group can read \(mode 0640\): chmod /,
    /^open\.json: \/match\/0\/any\/1\/bearer\/1\/token: plaintext token \(and 1 more\) in a file everyone can read/
  ])
  t.equal(lines.length, 2)
  t.match(lines[0], /or replace "token" with "token_sha256" \(printf %s TOKEN \| sha256sum\)$/)
  t.match(lines[1], /\(mode 0644\)/)
  t.notOk(lines.join('\n').includes(token), 'the token is never printed')
})

t.test('on reload a broken file keeps its last good version; the rest reloads; a deleted one is gone', async t => {
  const dir = tempDir(t)
  const token = (c: string): object => ({ token_sha256: c.repeat(64) })
  writeTree(dir, {
    'a.json': { match: [{ meta: { v: 'a1' }, bearer: [token('a')] }] },
    'b.json': { match: [{ meta: { v: 'b1' }, policy: 'a' }] },
    'c.json': { match: [{ meta: { v: 'c1' }, always: true }] },
    'd.json': { match: [{ meta: { v: 'd1' }, always: true }] }
  })
  const v1 = await loadPolicySet(dir)
  t.same(v1.names, ['a', 'b', 'c', 'd'])
  t.same(v1.stale, [])
  await new Promise(resolve => setTimeout(resolve, 5))
  writeTree(dir, {
    'a.json': '{ "match": [ ', // broken JSON
    'b.json': { match: [{ meta: { v: 'b2' }, policy: 'a' }] }, // changed, refers to the broken one
    // valid JSON, bad key
    'c.json': { match: [{ meta: { v: 'c2' }, bearer: [{ public_key: BAD_PEM }] }] }
  })
  rmSync(path.join(dir, 'd.json'))
  const v2 = await loadPolicySet(dir, {}, v1)
  t.same(v2.names, ['a', 'b', 'c'], 'd was deleted: gone')
  const loadedAt = (name: string): number => v1.sources.get(name)!.loadedAt.getTime()
  const stale = v2.stale.map(s => [s.name, path.basename(s.file), s.since.getTime()])
  t.same(stale, [
    ['a', 'a.json', loadedAt('a')],
    ['c', 'c.json', loadedAt('c')]
  ])
  const anyone = await v2.decide('c', {})
  t.same(anyone.meta, { v: 'c1' }, 'c answers with its last good version')
  t.same(v2.get('b')!.match[0]!.meta, { v: 'b2' }, 'b reloaded its new version, resolving a to its last good one')
  t.equal(v2.get('b')!.match[0]!.policy!.target, v2.get('a'), 'b refers to the a being served')
  const lines = describe(v2.problems)
  t.match(lines.join('\n'), /a\.json: : line 1 column \d+: JSON syntax error/)
  t.match(lines.join('\n'), /c\.json: \/match\/0\/bearer\/0\/public_key: not a valid PEM public key/)

  // The next reload still serves the same last good versions (not the broken files), with the same since.
  const v3 = await loadPolicySet(dir, {}, v2)
  t.same(
    v3.stale.map(s => [s.name, s.since.getTime()]),
    v2.stale.map(s => [s.name, s.since.getTime()])
  )
  // A fix ends it; a policy referring to a deleted one fails (its last good version too).
  writeTree(dir, { 'c.json': { match: [{ meta: { v: 'c3' }, always: true }] } })
  rmSync(path.join(dir, 'a.json'))
  const v4 = await loadPolicySet(dir, {}, v3)
  t.same(v4.names, ['c'])
  t.same(v4.stale, [])
  t.match(v4.problems.map(p => p.message).join('\n'), /policy "a" does not exist/)
  // Without a previous set (first start, the CLI) a broken file is simply left out.
  writeTree(dir, { 'c.json': '{' })
  t.same((await loadPolicySet(dir)).names, [])
})

t.test('a new version held back only because a file it refers to broke is used once that one is kept', async t => {
  const dir = tempDir(t)
  writeTree(dir, {
    'x.json': { match: [{ meta: { v: 'x1' }, always: true }] },
    'y.json': { match: [{ meta: { v: 'y1' }, always: true }] }
  })
  const v1 = await loadPolicySet(dir)
  writeTree(dir, {
    // y breaks at compile time (after parsing), and x now refers to y.
    'y.json': { match: [{ meta: { v: 'y2' }, bearer: [{ jwt_alg: 'ES256', jwt_key_base64: 'AAAA' }] }] },
    'x.json': { match: [{ meta: { v: 'x2' }, policy: 'y' }] }
  })
  const v2 = await loadPolicySet(dir, {}, v1)
  t.same(
    v2.stale.map(s => s.name),
    ['y']
  )
  t.same(v2.get('x')!.match[0]!.meta, { v: 'x2' }, 'x is its new version, referring to the last good y')
  t.same((await v2.decide('x', {})).meta, { v: 'y1' }, 'y1 matched through x2 (the inner meta wins)')
})

/** An in-memory ValidatedContents that records what it was asked. */
function memoryCache(): {
  cache: { isKnownValid: (c: string, k: 'policy') => boolean; markValid: (c: string, k: 'policy') => void }
  known: Set<string>
  asked: string[]
} {
  const known = new Set<string>()
  const asked: string[] = []
  return {
    known,
    asked,
    cache: {
      isKnownValid: (content, kind) => {
        asked.push(kind)
        return known.has(content)
      },
      markValid: (content, kind) => {
        t.equal(kind, 'policy')
        known.add(content)
      }
    }
  }
}

t.test('validated contents: valid files are remembered, known ones are taken as parsed, broken ones never', async t => {
  const dir = tempDir(t)
  const good = '{ "match": [ { "bearer": [ { "token_sha256": "' + SHA + '" } ], "meta": { "peer-id": "a" } } ] }'
  writeTree(dir, { 'good.json': good, 'typo.json': { match: [{ bearer: [{ tokn: 'x' }] }] } })
  const m = memoryCache()
  const v1 = await loadPolicySet(dir, {}, undefined, m.cache)
  t.same(v1.names, ['good'])
  t.same([...m.known], [good], 'only the valid content is remembered')
  t.ok(m.asked.every(k => k === 'policy'))
  const v2 = await loadPolicySet(dir, {}, undefined, m.cache)
  t.same(v2.names, ['good'], 'a known content loads without the schema')
  t.same(v2.sources.get('good')!.source.data, v1.sources.get('good')!.source.data, 'the same data as the schema gave')
  t.same(describe(v2.problems), describe(v1.problems), 'the broken file is validated again, with the same problems')
  // Known content is trusted only for what the schema checks: compile still refuses a reference to nothing.
  const ref = '{ "match": [ { "policy": "missing" } ] }'
  writeTree(dir, { 'ref.json': ref })
  m.known.add(ref)
  t.match(
    describe((await loadPolicySet(dir, {}, undefined, m.cache)).problems).join('\n'),
    /ref\.json: \/match\/0\/policy: policy "missing" does not exist/
  )
  t.same((await readPolicySource(path.join(dir, 'good.json'), m.cache)).data, v1.sources.get('good')!.source.data)
})

t.test('the policy loader does not load zod for known contents', async t => {
  // A separate process (this one has loaded zod already), whose module loads are written to a file.
  const dir = tempDir(t)
  const good = '{ "match": [ { "always": true } ] }'
  writeTree(dir, { 'p.json': good })
  const { execFileSync } = await import('node:child_process')
  const { readFileSync } = await import('node:fs')
  const hooks =
    'data:text/javascript,' +
    encodeURIComponent(
      'import { appendFileSync } from "node:fs";' +
        'export async function load (url, ctx, next) { appendFileSync(process.env.LOADED, url + "\\n"); return next(url, ctx) }'
    )
  const register = `import { register } from 'node:module'; register(${JSON.stringify(hooks)})`
  const loader = new URL('../../../policies/index.ts', import.meta.url).href
  const script = `
    const { loadPolicySet } = await import(${JSON.stringify(loader)})
    const known = new Set(process.argv[1] === 'known' ? [${JSON.stringify(good)}] : [])
    const set = await loadPolicySet(${JSON.stringify(dir)}, {}, undefined, { isKnownValid: c => known.has(c), markValid: () => {} })
    process.stdout.write(JSON.stringify(set.names))`
  const run = (arg: string): { names: string[]; zod: boolean } => {
    const loaded = path.join(dir, `loaded-${arg}.txt`)
    const out = execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        `data:text/javascript,${encodeURIComponent(register)}`,
        '--input-type=module',
        '-e',
        script,
        arg
      ],
      { encoding: 'utf8', env: { ...process.env, LOADED: loaded } }
    )
    return { names: JSON.parse(out) as string[], zod: readFileSync(loaded, 'utf8').includes('/node_modules/zod/') }
  }
  t.same(run('known'), { names: ['p'], zod: false })
  t.same(run('new'), { names: ['p'], zod: true })
})
