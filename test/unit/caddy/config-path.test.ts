import t from 'tap'
import { snippetStateIn, type Snippet } from '../../../caddy/index.js'

// snippetStateIn: whether a snippet is in a config read once (GET /config/), with the answers
// snippetState gives per snippet through the admin API (test/e2e/caddy/client.test.ts).

const route = (id: string, body: string): Record<string, unknown> => ({
  '@id': id,
  handle: [{ handler: 'static_response', body }]
})
const config = (routes: unknown[]): Record<string, unknown> => ({
  apps: { http: { servers: { s: { '@id': 'front', listen: [':1'], routes } } } }
})
const snip = (id: string, body: string): Snippet => ({ id: 'front/routes', config: route(id, body) })
const plain = { handle: [{ handler: 'static_response', body: 'kept' }] }

t.test('snippet states in one config', async t => {
  const cases: Array<[string, unknown, Snippet, string]> = [
    ['@id present and equal', config([route('a', '1')]), snip('a', '1'), 'registered'],
    ['@id present, other content', config([route('a', '1')]), snip('a', '2'), 'outdated'],
    ['@id absent', config([route('b', '1')]), snip('a', '1'), 'missing'],
    [
      'key order does not matter',
      config([{ handle: [{ body: '1', handler: 'static_response' }], '@id': 'a' }]),
      snip('a', '1'),
      'registered'
    ],
    [
      'no @id: the target holds an equal value',
      config([plain]),
      { id: 'front/routes', config: plain, register_only: true },
      'registered'
    ],
    [
      'no @id: the target does not hold it',
      config([]),
      { id: 'front/routes', config: plain, register_only: true },
      'missing'
    ],
    [
      'no @id: the target is missing',
      config([]),
      { id: 'nowhere/routes', config: plain, register_only: true },
      'missing'
    ],
    [
      'a /config/ path set to the value',
      { apps: { tls: { automation: { x: 1 } } } },
      { id: '/config/apps/tls/automation', config: { x: 1 }, register_only: true },
      'registered'
    ],
    ['an empty config (Caddy just started)', null, snip('a', '1'), 'missing']
  ]
  for (const [name, cfg, s, expected] of cases) t.equal(snippetStateIn(cfg, s), expected, name)
})
