import path from 'node:path'
import t from 'tap'
import { compilePolicies, loadPolicySet, PolicySet } from '../../../policies/index.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

// `origin` entries: exact origins, and `scheme://*.domain[:port]` for exactly one label in
// place of the * (issue 16 item 7). Decided through the public PolicySet; refused patterns
// through the loader (schema) and compilePolicies (sources built in code).

const set = (origins: string[]): PolicySet => {
  const data = { match: [{ origin: origins, meta: { via: 'origin' } }] }
  const { policies, problems } = compilePolicies([{ name: 'p', file: 'p.json', data }])
  if (problems.length > 0) throw new Error(JSON.stringify(problems))
  return new PolicySet(policies)
}

t.test('a wildcard stands for exactly one label, scheme and port included', async t => {
  const p = set(['https://*.example.org', 'http://*.apps.example.net:8080', 'https://exact.example.com'])
  const cases: Array<[string | undefined, boolean, string]> = [
    ['https://a.example.org', true, 'one label'],
    ['https://A.Example.ORG', true, 'hosts compare case-insensitively'],
    ['https://xn--bcher-kva.example.org', true, 'a punycode label'],
    ['https://my-app_2.example.org', true, 'letters, digits, - and _'],
    ['https://example.org', false, 'the domain itself is not a subdomain (list it too if wanted)'],
    ['https://a.b.example.org', false, 'two labels'],
    ['https://evil-example.org', false, 'a lookalike without the dot'],
    ['https://aexample.org', false, 'no dot at all'],
    ['https://.example.org', false, 'an empty label'],
    ['https://a.example.org.evil.com', false, 'the domain as a prefix of another'],
    ['https://a.example.org:8443', false, 'another port'],
    ['http://a.example.org', false, 'another scheme'],
    ['https://a.example.org/', false, 'not a serialised origin'],
    ['https://a@b.example.org', false, 'userinfo is not a label'],
    ['http://x.apps.example.net:8080', true, 'wildcard with a port'],
    ['http://x.apps.example.net', false, 'wildcard with a port needs that port'],
    ['http://x.apps.example.net:80801', false, 'a longer port'],
    ['https://exact.example.com', true, 'exact entries still match'],
    ['https://a.exact.example.com', false, 'an exact entry is not a wildcard'],
    ['null', false, 'an opaque origin'],
    [undefined, false, 'no Origin header']
  ]
  for (const [origin, allow, why] of cases) {
    const d = await p.decide('p', { origin })
    t.equal(d.allow, allow, `${origin ?? '(none)'}: ${why}`)
  }
})

t.test('wildcards that are too wide or not a whole first label are load errors, with the JSON path', async t => {
  const bad = [
    'https://*.org',
    'https://*',
    'https://a.*.example.org',
    'https://*example.org',
    'https://**.example.org',
    'https://*.example.org.',
    '*.example.org',
    'https://*.example.org/path'
  ]
  const dir = tempDir(t)
  const file = (o: string): object => ({ match: [{ origin: ['https://ok.example', o] }] })
  writeTree(dir, Object.fromEntries(bad.map((o, i) => [`b${i}.json`, file(o)])))
  const loaded = await loadPolicySet(dir)
  t.same(loaded.names, [], 'every file refused')
  const lines = loaded.problems.map(p => `${path.basename(p.file ?? '')}: ${p.jsonPath ?? ''}: ${p.message}`)
  t.equal(lines.length, bad.length, `one problem per file:\n${lines.join('\n')}`)
  t.match(lines[0], /^b0\.json: \/match\/0\/origin\/1: "\*\.org" is too wide: at least two labels after "\*\."/)
  t.match(lines[2], /^b2\.json: \/match\/0\/origin\/1: a wildcard stands for the whole first label only/)
  t.match(lines[7], /^b7\.json: \/match\/0\/origin\/1: must be an origin like "https:\/\/example\.org"/)

  // The same rule for sources that skip the schema (built in code, or known to the validation cache).
  const sources = bad.map((o, i) => ({ name: `b${i}`, file: `b${i}.json`, data: { match: [{ origin: [o] }] } }))
  const { policies, problems } = compilePolicies(sources)
  t.equal(policies.size, 0)
  t.same(
    problems.map(p => p.jsonPath),
    bad.map(() => '/match/0/origin/0')
  )
})
