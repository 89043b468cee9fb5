import t from 'tap'
import { z } from 'zod'
import { describeIssues, jsonPointer, parseJsonc, ServiceSyntax } from '../../../errors/index.js'

// The one formatter of zod issues for service, host, hosts and policy files: what each of its
// two former copies did best, now for every file (union and lazy unwrapping, invalid record
// keys, "did you mean").

const lines = (schema: z.ZodType, value: unknown): string[] => {
  const r = schema.safeParse(value)
  return r.success ? [] : describeIssues(schema, r.error.issues).map(l => `${l.jsonPath}: ${l.message}`)
}

t.test('an unknown key: "did you mean", else the known fields', async t => {
  const pod = z.strictObject({ pod_template: z.string(), name: z.string().optional() })
  const schema = z.strictObject({ pods: z.array(pod) })
  t.same(lines(schema, { pods: [{ pod_template: 'a', pod_tmplate: 'b' }] }), [
    '/pods/0/pod_tmplate: unknown field; did you mean "pod_template"?'
  ])
  t.same(lines(schema, { pods: [{ pod_template: 'a', zzz: 1 }] }), [
    '/pods/0/zzz: unknown field; known fields: pod_template, name'
  ])
})

t.test('through unions and lazy schemas (policy matchers nest)', async t => {
  type M = { all?: M[]; bearer?: string[] }
  const matcher: z.ZodType<M> = z.lazy(() =>
    z.strictObject({ all: z.array(matcher).optional(), bearer: z.array(z.string()).optional() })
  )
  const schema = z.strictObject({ match: z.array(z.union([z.literal('always'), matcher])) })
  t.same(
    lines(schema, { match: [{ all: [{ bearr: ['x'] }] }] }),
    ['/match/0/all/0/bearr: unknown field; did you mean "bearer"?'],
    'the union branch that got furthest, its keys found through the lazy schema'
  )
})

t.test('a record key its schema refuses is named as the key', async t => {
  const schema = z.strictObject({ config: z.record(z.string().regex(/^[A-Z_]+$/, 'must be UPPER_CASE'), z.string()) })
  t.same(lines(schema, { config: { lower: 'x' } }), ['/config/lower: key must be UPPER_CASE'])
})

t.test('JSON pointers and JSONC syntax errors with line and column', async t => {
  t.equal(jsonPointer([]), '/')
  t.equal(jsonPointer(['a/b', 'c~d', 0]), '/a~1b/c~0d/0')
  t.same(parseJsonc('{\n  // a comment\n  "a": 1,\n}', 'f.json', ServiceSyntax), { a: 1 })
  t.throws(() => parseJsonc('{\n  "a": 1\n  "b": 2\n}', 'f.json', ServiceSyntax), {
    code: 'CND_SERVICE_SYNTAX',
    message: 'f.json: line 3 column 3: JSON syntax error: CommaExpected'
  })
})
