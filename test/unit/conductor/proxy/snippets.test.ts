import t from 'tap'
import { CaddyClient, type Snippet } from '../../../../caddy/index.js'
import { registerOwner, type SnippetRecord, type SnippetRecordStore } from '../../../../conductor/proxy/index.js'

// When registerOwner writes an owner's record: once per change, never when nothing changed,
// and twice only when @ids are added and others dropped at once (first the union of old and
// new, so that a crash while Caddy is being changed leaves every @id that may be there
// recorded, then the new list). Caddy is not asked here (nothing to register or delete).

const route = (id: string, body = id): Snippet =>
  ({ id: 'conductor-server/routes', config: { '@id': id, handle: [{ body }] } })
const ids = (r: SnippetRecord | undefined): string[] | undefined =>
  r?.snippets.map(s => String((s.config as Record<string, unknown>)['@id']))

function countingStore (): SnippetRecordStore & { writes: string[], map: Map<string, SnippetRecord> } {
  const map = new Map<string, SnippetRecord>()
  const writes: string[] = []
  return {
    map,
    writes,
    get: owner => map.get(owner),
    put: r => { writes.push(`put ${ids(r)!.join(',')}`); map.set(r.owner, r) },
    remove: owner => { writes.push('remove'); map.delete(owner) }
  }
}

t.test('a record is written once per change, never when nothing changed', async t => {
  // Nothing listens there: a test that reached Caddy would fail.
  const caddy = new CaddyClient({ adminUrl: 'http://127.0.0.1:1' })
  const store = countingStore()
  const next = (snippets: Snippet[], inputs = 'h1'): Omit<SnippetRecord, 'updated_at'> =>
    ({ owner: 'service@web', service: 'web', caddy_admin: caddy.adminUrl, inputs, snippets })
  const steps: Array<[string, Omit<SnippetRecord, 'updated_at'>, string[], string[] | undefined]> = [
    ['a new owner', next([route('a'), route('b')]), ['put a,b'], ['a', 'b']],
    ['the same again', next([route('a'), route('b')]), [], ['a', 'b']],
    ['same @ids, other content', next([route('a', 'v2'), route('b')]), ['put a,b'], ['a', 'b']],
    ['an @id added', next([route('a', 'v2'), route('b'), route('c')]), ['put a,b,c'], ['a', 'b', 'c']],
    ['an @id dropped (the record holds every @id there already)', next([route('a', 'v2'), route('c')]),
      ['put a,c'], ['a', 'c']],
    ['an @id replaced by another: the union first, then the list', next([route('a', 'v2'), route('d')]),
      ['put a,c,d', 'put a,d'], ['a', 'd']],
    ['other inputs only', next([route('a', 'v2'), route('d')], 'h2'), ['put a,d'], ['a', 'd']],
    ['nothing printed any more', next([], 'h2'), ['remove'], undefined],
    ['nothing, and no record', next([], 'h2'), [], undefined]
  ]
  for (const [what, record, writes, after] of steps) {
    store.writes.length = 0
    await registerOwner(caddy, store, record, [], [])
    t.same(store.writes, writes, `${what}: writes`)
    t.same(ids(store.map.get('service@web')), after, `${what}: the record after`)
  }
})
