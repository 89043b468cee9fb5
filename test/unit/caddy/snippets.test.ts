import t from 'tap'
import {
  adminPath,
  headId,
  isSnippetList,
  loadSnippetSchemas,
  parseSnippets,
  redact,
  sameJson,
  SnippetInvalid,
  validateSnippets
} from '../../../caddy/index.js'
import { z } from 'zod'

const TPL = '/srv/web/proxy.template'

t.test('valid snippets parse; empty output is no snippet', async t => {
  const list = await parseSnippets(
    JSON.stringify([
      { id: 'front/routes', config: { '@id': 'web', handle: [] } },
      { id: '/config/apps/tls/automation/policies/0/subjects', config: 'example.org', register_only: true }
    ]),
    TPL
  )
  t.equal(list.length, 2)
  t.same(await parseSnippets('  \n', TPL), [])
})

const bad: Array<[string, unknown, RegExp]> = [
  [
    'missing @id',
    [
      { id: 'a/routes', config: { '@id': 'x' } },
      { id: 'a/routes', config: {} },
      { id: 'a/routes', config: { handle: [] } }
    ],
    /^\/srv\/web\/proxy\.template: \/1\/config\/@id: missing: a snippet that is not register_only needs a unique @id/
  ],
  ['non-string @id', [{ id: 'a', config: { '@id': 3 } }], /\/0\/config\/@id: missing/],
  [
    'duplicate @id',
    [
      { id: 'a', config: { '@id': 'x' } },
      { id: 'b', config: { '@id': 'x' } }
    ],
    /\/1\/config\/@id: duplicate @id "x" \(also at \/0\/config\/@id\)/
  ],
  [
    'not an array',
    { id: 'a', config: {} },
    /proxy\.template: \/: expected a JSON array of \{id, config, register_only\}, got an object/
  ],
  [
    'unknown field',
    [{ id: 'a', config: { '@id': 'x' }, registerOnly: true }],
    /\/0: Unrecognized key: "registerOnly"|\/0: .*registerOnly/
  ],
  ['missing config', [{ id: 'a' }], /\/0\/config: missing: the Caddy JSON to register/],
  ['bad id', [{ id: '../etc', config: { '@id': 'x' } }], /\/0\/id: must be a Caddy @id path/],
  ['empty id', [{ id: '', config: { '@id': 'x' } }], /\/0\/id: must not be empty/],
  ['register_only not boolean', [{ id: 'a', config: 'x', register_only: 'yes' }], /\/0\/register_only: /]
]
for (const [name, value, re] of bad) {
  t.test(`invalid: ${name}`, async t => {
    await t.rejects(validateSnippets(value, TPL), SnippetInvalid)
    await t.rejects(validateSnippets(value, TPL), { code: 'CND_CADDY_SNIPPET_INVALID', message: re })
  })
}

t.test('not JSON names the template', async t => {
  await t.rejects(parseSnippets('[{"id": ', TPL), {
    code: 'CND_CADDY_SNIPPET_INVALID',
    message: /^\/srv\/web\/proxy\.template: output is not JSON \(line 1 column 9: ValueExpected\)/
  })
  const err = await parseSnippets('[{"id": "a",\n "config": {"token": sekret-token}}]', TPL).then(
    () => undefined,
    (e: unknown) => e as Error
  )
  if (err === undefined) throw new Error('expected a rejection')
  t.match(err.message, /line 2 column 22: InvalidSymbol/)
  t.notMatch(err.message, /sekret/, 'the output (which may hold secrets) is never quoted')
})

t.test('register_only snippets need no @id', async t => {
  t.equal((await validateSnippets([{ id: 'a', config: { host: ['x'] }, register_only: true }], TPL)).length, 1)
})

t.test('every problem is listed, one per line', async t => {
  const err = await validateSnippets(
    [
      { id: 'a', config: {} },
      { id: '', config: { '@id': 'y' } }
    ],
    TPL
  ).then(
    () => undefined,
    (e: unknown) => e as Error
  )
  t.equal(err?.message.split('\n').length, 2)
})

t.test('admin paths follow the original implementation', async t => {
  t.equal(adminPath('conductor-routes/routes'), '/id/conductor-routes/routes')
  t.equal(adminPath('/config/apps/http'), '/config/apps/http')
  t.equal(adminPath('/id/x'), '/id/x')
  t.equal(headId('front/routes'), 'front')
  t.equal(headId('/config/apps'), undefined)
})

t.test('sameJson ignores key order', async t => {
  t.ok(sameJson({ a: 1, b: [1, { c: 2, d: 3 }] }, { b: [1, { d: 3, c: 2 }], a: 1 }))
  t.notOk(sameJson([1, 2], [2, 1]))
})

t.test('redaction of credentials in Caddy messages', async t => {
  t.notMatch(redact('bad header Authorization: Bearer abc.def-ghi'), /abc/)
  t.equal(redact('x Bearer abc.def-ghi y'), 'x Bearer *** y')
  t.match(redact('"password": "hunter2"'), /\*\*\*/)
  t.notMatch(redact('"password": "hunter2"'), /hunter2/)
})

t.test('the snippet schema has a JSON Schema with descriptions', async t => {
  const { snippetListSchema } = await loadSnippetSchemas()
  const schema = z.toJSONSchema(snippetListSchema, { io: 'input' }) as {
    items: { properties: Record<string, { description?: string }> }
  }
  t.match(schema.items.properties.id?.description, /@id path/)
})

t.test('isSnippetList (no zod) accepts exactly what the schema accepts', async t => {
  const { snippetListSchema } = await loadSnippetSchemas()
  const ok = { id: 'front/routes', config: { '@id': 'web' } }
  const values: unknown[] = [
    [],
    [ok],
    [ok, { id: 'front/routes', config: { '@id': 'api' } }],
    [{ id: '/config/apps/tls/automation/policies/0/subjects', config: 'example.org', register_only: true }],
    [{ id: 'a', config: null, register_only: true }],
    [{ id: 'a', config: 0, register_only: true }],
    [{ id: 'a', config: { '@id': 'x' }, register_only: false }],
    [{ id: 'a', config: { '@id': 'x' }, register_only: undefined }],
    ...bad.map(([, v]) => v),
    [{ id: 'a', config: { '@id': '' } }],
    [
      { id: 'a', config: { '@id': 'x' } },
      { id: 'b', config: { '@id': 'x' }, register_only: true }
    ],
    [{ id: 'a b', config: { '@id': 'x' } }],
    [{ id: 'a?b', config: { '@id': 'x' } }],
    [{ id: 'a#', config: { '@id': 'x' } }],
    [{ id: 'a/../b', config: { '@id': 'x' } }],
    [{ id: 'a/..b', config: { '@id': 'x' } }],
    [{ id: 7, config: { '@id': 'x' } }],
    [{ id: 'a', config: { '@id': 'x' }, register_only: 1 }],
    [{ id: 'a', config: undefined, register_only: true }],
    [null],
    ['x'],
    [[ok]],
    null,
    'x',
    3,
    {},
    [ok, null]
  ]
  for (const v of values)
    t.equal(isSnippetList(v), snippetListSchema.safeParse(v).success, JSON.stringify(v) ?? String(v))
})
