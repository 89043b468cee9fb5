import type { CaddyClient } from './client.js'
import { atIdOf, findAtId, resolve } from './config-path.js'
import { DEFAULT_MAX_ATTEMPTS as MAX_ROUNDS } from './defaults.js'
import { CaddyConflict } from './errors.js'
import {
  deregisterSnippets,
  registerSnippets,
  sameJson,
  snippetAtId,
  type DeregisterResult,
  type RegisterResult,
  type Snippet
} from './snippets.js'

// Route switch of a deploy in ONE Caddy config change (issue 8). Caddy 2.6 reloads its whole
// config on every admin change: each reload opens new listening sockets (SO_REUSEPORT) and
// shuts the old servers down, which closes every idle keep-alive connection (a client that
// sends its next request at that instant gets ECONNRESET) and, unless the kernel migrates
// them (net.ipv4.tcp_migrate_req=1), resets connections still waiting in the old socket's
// accept queue. Registering the new snippets and then deleting the old ones was two reloads
// per deploy; here both happen in one PATCH of /config/, guarded by the config's ETag, and a
// new route takes the position of the old route it replaces (same target), so route order
// is kept.

export interface SwapOutcome {
  /** One result per snippet of `add`, as registerSnippets would give. */
  added: RegisterResult[]
  /** One result per snippet of `remove`: `replaced` when a new snippet took its place. */
  removed: Array<DeregisterResult | 'replaced'>
  /** Caddy config changes made: 1 (atomic), 0 (nothing to do), or more (fallback). */
  changes: number
}

/** Plan of a swap on a copy of Caddy's config; undefined when a target cannot be found in it. */
export interface SwapPlan {
  next: unknown
  added: RegisterResult[]
  removed: Array<DeregisterResult | 'replaced'>
}

/**
 * Registers `add` and removes `remove` (by @id; register_only snippets stay) in one config
 * change. Falls back to register-then-deregister (two or more changes) when a snippet's target
 * is not in the current config yet (e.g. a `/config/...` key to be created), which Caddy's
 * own POST semantics then decide.
 */
export async function swapSnippets(caddy: CaddyClient, add: Snippet[], remove: Snippet[]): Promise<SwapOutcome> {
  for (let round = 1; ; round++) {
    if (round > MAX_ROUNDS)
      throw new CaddyConflict(
        `Caddy's config kept changing while switching routes (${MAX_ROUNDS} attempts, If-Match failed each time); another process is writing it in a loop`
      )
    const { value, etag } = await caddy.getWithEtag('/config/')
    const plan = planSwap(value, add, remove)
    if (plan === undefined) break
    if (sameJson(plan.next, value)) return { added: plan.added, removed: plan.removed, changes: 0 }
    try {
      await caddy.patch('/config/', plan.next, etag)
      return { added: plan.added, removed: plan.removed, changes: 1 }
    } catch (err) {
      // Another writer changed the config between our read and write: read and plan again.
      if ((err as { status?: unknown }).status !== 412) throw err
    }
  }
  if (add.length + remove.length === 0) return { added: [], removed: [], changes: 0 }
  const keep = new Set(add.map(snippetAtId).filter(id => id !== undefined))
  const added = await registerSnippets(caddy, add)
  const gone = remove.filter(s => !keep.has(snippetAtId(s) ?? ''))
  const results = await deregisterSnippets(caddy, gone)
  const outcome = new Map(gone.map((s, i) => [s, results[i]!]))
  const changes = added.filter(r => r !== 'unchanged').length + results.filter(r => r === 'deleted').length
  // A leaving snippet whose @id `add` registers again was replaced by that registration.
  return { added, removed: remove.map(s => outcome.get(s) ?? 'replaced'), changes }
}

/**
 * Pure: applies the swap to a copy of `config` with Caddy's admin semantics (an existing @id is
 * replaced in place; otherwise POST at `id` appends to an array or sets the value), then
 * removes the @ids of `remove` that `add` does not keep. Undefined when a target is missing.
 */
export function planSwap(config: unknown, add: Snippet[], remove: Snippet[]): SwapPlan | undefined {
  const next = structuredClone(config ?? null)
  if (next === null || typeof next !== 'object') return undefined
  const keep = new Set(add.map(snippetAtId).filter(id => id !== undefined))
  const leaving = remove.filter(
    s => s.register_only !== true && snippetAtId(s) !== undefined && !keep.has(snippetAtId(s)!)
  )
  const replaced = new Set<Snippet>()
  const added: RegisterResult[] = []
  for (const s of add) {
    const atId = snippetAtId(s)
    const existing = atId === undefined ? undefined : findAtId(next, atId)
    if (existing !== undefined) {
      if (sameJson(existing.parent[existing.key], s.config)) {
        added.push('unchanged')
        continue
      }
      existing.parent[existing.key] = structuredClone(s.config)
      added.push('replaced')
      continue
    }
    const target = resolve(next, s.id)
    if (target === undefined) return undefined
    const current = target.parent[target.key]
    if (Array.isArray(current)) {
      if (atId === undefined && current.some(x => sameJson(x, s.config))) {
        added.push('unchanged')
        continue
      }
      // Take the place of a leaving snippet registered at the same target: routes keep their order.
      const old = leaving.find(
        o => !replaced.has(o) && o.id === s.id && current.some(x => atIdOf(x) === snippetAtId(o))
      )
      if (old !== undefined) {
        current[current.findIndex(x => atIdOf(x) === snippetAtId(old))] = structuredClone(s.config)
        replaced.add(old)
      } else current.push(structuredClone(s.config))
    } else {
      if (atId === undefined && sameJson(current, s.config)) {
        added.push('unchanged')
        continue
      }
      target.parent[target.key] = structuredClone(s.config)
    }
    added.push('created')
  }
  const removed = remove.map((s): DeregisterResult | 'replaced' => {
    if (replaced.has(s)) return 'replaced'
    if (!leaving.includes(s)) return 'kept'
    const at = findAtId(next, snippetAtId(s)!)
    if (at === undefined) return 'absent'
    if (Array.isArray(at.parent)) at.parent.splice(Number(at.key), 1)
    else delete at.parent[at.key]
    return 'deleted'
  })
  return { next, added, removed }
}
