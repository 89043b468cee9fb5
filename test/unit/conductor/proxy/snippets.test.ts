import t from 'tap'
import { CaddyClient, type Snippet } from '../../../../caddy/index.js'
import { registerOwner, type SnippetRecord, type SnippetRecordStore } from '../../../../conductor/proxy/index.js'

// When registerOwner writes an owner's record: once per change, never when nothing changed,
// and twice only when @ids are dropped (first the union of old and new, so that a crash while
// Caddy is being changed leaves every @id that may be there recorded, then the new list).
// Caddy is not asked here (nothing to register or delete): only the record is looked at.

const route = (id: string, body = id): Snippet => ({
  id: 'conductor-server/routes',
  config: { '@id': id, handle: [{ body }] }
})
const ids = (r: SnippetRecord | undefined): string[] | undefined =>
  r?.snippets.map(s => String((s.config as Record<string, unknown>)['@id']))

function countingStore(): SnippetRecordStore & { writes: string[]; map: Map<string, SnippetRecord> } {
  const map = new Map<string, SnippetRecord>()
  const writes: string[] = []
  return {
    map,
    writes,
    get: owner => map.get(owner),
    put: r => {
      writes.push(`put ${ids(r)!.join(',')} ${r.inputs ?? '-'}`)
      map.set(r.owner, r)
    },
    remove: owner => {
      writes.push('remove')
      map.delete(owner)
    }
  }
}

t.test('a record is written once per change, never when nothing changed', async t => {
  // Nothing listens there: a test that reached Caddy would fail.
  const caddy = new CaddyClient({ adminUrl: 'http://127.0.0.1:1' })
  const store = countingStore()
  const next = (snippets: Snippet[], inputs = 'h1'): Omit<SnippetRecord, 'updated_at'> => ({
    owner: 'service@web',
    service: 'web',
    caddy_admin: caddy.adminUrl,
    inputs,
    snippets
  })
  const steps: Array<[string, Omit<SnippetRecord, 'updated_at'>, string[], string[] | undefined]> = [
    ['a new owner', next([route('a'), route('b')]), ['put a,b h1'], ['a', 'b']],
    ['the same again', next([route('a'), route('b')]), [], ['a', 'b']],
    ['same @ids, other content', next([route('a', 'v2'), route('b')]), ['put a,b h1'], ['a', 'b']],
    ['an @id added', next([route('a', 'v2'), route('b'), route('c')]), ['put a,b,c h1'], ['a', 'b', 'c']],
    // The union holds an @id the template no longer prints: without the inputs hash, so that a
    // crash before the second write makes the next reload run the template, not reuse the union.
    [
      'an @id dropped: the union first (no inputs), then the list',
      next([route('a', 'v2'), route('c')]),
      ['put a,b,c -', 'put a,c h1'],
      ['a', 'c']
    ],
    ['an @id replaced by another', next([route('a', 'v2'), route('d')]), ['put a,c,d -', 'put a,d h1'], ['a', 'd']],
    ['other inputs only', next([route('a', 'v2'), route('d')], 'h2'), ['put a,d h2'], ['a', 'd']],
    ['nothing printed any more', next([], 'h2'), ['put a,d -', 'remove'], undefined],
    ['nothing, and no record', next([], 'h2'), [], undefined]
  ]
  for (const [what, record, writes, after] of steps) {
    store.writes.length = 0
    await registerOwner(caddy, store, record, [], [])
    t.same(store.writes, writes, `${what}: writes`)
    t.same(ids(store.map.get('service@web')), after, `${what}: the record after`)
  }
})
