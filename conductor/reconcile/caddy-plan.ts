import { sameJson, snippetAtId, snippetStateIn, type Snippet } from '../../caddy/index.js'
import { replicaGroup, routedSnippets, sameRecord, staleSnippets, type SnippetRecord } from '../proxy/index.js'

// The Caddy half of a reload's plan. Pure: the snippets each owner should have (reused from its
// record when the template's inputs are unchanged, else just rendered), the records, and
// Caddy's config as read once -> what to register, what to remove, which records to write.
// Nothing to do when the three agree. The config read is how a Caddy that restarted without
// --resume (and lost every route made through its admin API) is noticed: its snippets are
// recorded, unchanged, and yet missing from that config, so they are registered again, one GET
// per reload instead of one request per snippet.

export type CaddyAction =
  | {
      kind: 'register'
      owner: string
      /** The owner's record after this action. */
      record: Omit<SnippetRecord, 'updated_at'>
      /** Snippets Caddy lacks or holds in another version. */
      register: Snippet[]
      /** Recorded @ids the owner no longer has, still in Caddy. */
      stale: Snippet[]
      /** `record outdated`: same snippets, all in Caddy, but other inputs (or admin endpoint) recorded. */
      reason: 'new' | 'changed' | 'missing in Caddy' | 'record outdated'
    }
  | { kind: 'remove-owner'; owner: string /** Its recorded snippets still in Caddy. */; remove: Snippet[] }
  | { kind: 'register-protected'; register: Snippet[] }

export interface CaddyDesired {
  /** One record per owner that should have snippets (or an empty list: it should have none). */
  owners: Array<Omit<SnippetRecord, 'updated_at'>>
  /** Routes of `caddy protect`. */
  protected: Snippet[]
  /** Owners whose template failed: their record and routes are left as they are. */
  failed: ReadonlySet<string>
  /**
   * Routes replicas of a part share (proxy/replicas.ts `routesByGroup` over `owners`), by replica
   * group then @id: what Caddy holds there is that, not one replica's snippet. Absent: none.
   */
  shared?: ReadonlyMap<string, ReadonlyMap<string, Snippet>>
}

export function planCaddy(
  desired: CaddyDesired,
  recorded: ReadonlyMap<string, SnippetRecord>,
  live: unknown
): CaddyAction[] {
  const out: CaddyAction[] = []
  const inCaddy = (s: Snippet): boolean => snippetStateIn(live, s) !== 'missing'
  const sharedOf = (rec: { service: string; deployment?: string | undefined }) => {
    const group = replicaGroup(rec)
    return group === undefined ? undefined : desired.shared?.get(group)
  }
  // An @id another replica of the part still prints is not stale: it stays, with their upstreams.
  const heldByReplicas = (rec: { service: string; deployment?: string | undefined }, s: Snippet): boolean =>
    sharedOf(rec)?.has(snippetAtId(s) ?? '') === true
  for (const next of desired.owners) {
    const before = recorded.get(next.owner)
    const shared = sharedOf(next)
    const routed = shared === undefined ? next.snippets : routedSnippets(next.snippets, shared)
    const register = routed.filter(s => snippetStateIn(live, s) !== 'registered')
    const stale = staleSnippets(before?.snippets ?? [], next.snippets)
      .filter(inCaddy)
      .filter(s => !heldByReplicas(next, s))
    const recordChanged = before === undefined ? next.snippets.length > 0 : !sameRecord(before, next)
    if (!recordChanged && register.length === 0 && stale.length === 0) continue
    const reason =
      before === undefined
        ? 'new'
        : !sameJson(before.snippets, next.snippets)
          ? 'changed'
          : register.length > 0
            ? 'missing in Caddy'
            : 'record outdated'
    out.push({ kind: 'register', owner: next.owner, record: next, register, stale, reason })
  }
  const register = desired.protected.filter(s => snippetStateIn(live, s) !== 'registered')
  if (register.length > 0) out.push({ kind: 'register-protected', register })
  // Owners recorded that should have nothing now (a disabled or removed service, a deployment
  // without state): what they left in Caddy goes, and their record.
  const wanted = new Set(desired.owners.map(o => o.owner))
  for (const rec of recorded.values()) {
    if (wanted.has(rec.owner) || desired.failed.has(rec.owner)) continue
    const remove = rec.snippets.filter(
      s => s.register_only !== true && snippetAtId(s) !== undefined && inCaddy(s) && !heldByReplicas(rec, s)
    )
    out.push({ kind: 'remove-owner', owner: rec.owner, remove })
  }
  return out
}

export function describeCaddyAction(a: CaddyAction): string {
  switch (a.kind) {
    case 'register':
      return `register ${a.owner} (${a.reason}): ${a.register.length} to register, ${a.stale.length} to remove`
    case 'remove-owner':
      return `remove ${a.owner}: ${a.remove.length} in Caddy`
    case 'register-protected':
      return `register ${a.register.length} protected route${a.register.length === 1 ? '' : 's'}`
  }
}
