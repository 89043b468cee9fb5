import {
  CaddyUnreachable,
  deregisterSnippets,
  registerSnippets,
  snippetAtId,
  type CaddyClient,
  type Snippet
} from '../../caddy/index.js'
import {
  ownerSnippets,
  recordsOver,
  registerOwner,
  replicaGroup,
  routesByGroup,
  snippetSources,
  type SnippetRecord
} from '../proxy/index.js'
import type { ServiceEntry } from '../model/index.js'
import { planCaddy, type CaddyAction } from './caddy-plan.js'
import type { SystemCtx } from './context.js'
import type { Observed } from './plan.js'

// `conductor reload` converges Caddy too (issue 8 item 2), as the last step of its apply: the
// snippets every owner should have (services, their functions, running deployments, `caddy
// protect` routes), from the services and the Observed the reload already holds (the apply kept
// it current: nothing is read again); a template runs only when its inputs changed (its record
// holds their hash, proxy/inputs.ts); one GET of Caddy's config; then planCaddy (pure) and its
// actions applied. This repairs a Caddy that restarted and lost API-made routes, and removes
// what owners that should have none left behind (a disabled service).

export interface CaddyConvergence {
  /** "owner: @id created" lines for what changed; nothing when Caddy was already right. */
  changes: string[]
  errors: string[]
}

/**
 * `entries`: the services the reload loaded; `observed`: as the unit apply left it;
 * `elsewhere`: synced services placed on other hosts only (no routes here, like a disabled one).
 */
export async function convergeCaddy(
  sctx: SystemCtx,
  entries: readonly ServiceEntry[],
  observed: Observed,
  elsewhere: ReadonlyMap<string, string[]> = new Map()
): Promise<CaddyConvergence | undefined> {
  const caddy = sctx.drivers.caddy
  if (caddy === undefined) return undefined
  const desired = snippetSources(sctx, entries, observed, elsewhere)
  // Nothing declared, nothing recorded: Caddy is not asked (hosts without proxy templates).
  if (desired.sources.length === 0 && desired.protected.length === 0 && observed.snippets.size === 0) return undefined
  const out: CaddyConvergence = { changes: [], errors: [] }
  const client = caddy.client()
  let live: unknown
  try {
    live = await client.get('/config/')
  } catch (err) {
    out.errors.push(`Caddy: ${(err as Error).message}`)
    return out
  }
  out.errors.push(...desired.problems.map(p => `${p.owner}: ${p.message}`))
  const owners: Array<Omit<SnippetRecord, 'updated_at'>> = []
  const failed = new Set<string>()
  for (const src of desired.sources) {
    try {
      const opts = { caddyAdmin: client.adminUrl, host: sctx.hostConfig, timeoutSec: sctx.templateTimeoutSec }
      owners.push((await ownerSnippets(src, observed.snippets.get(src.owner), opts)).record)
    } catch (err) {
      failed.add(src.owner)
      out.errors.push(`${src.owner}: ${(err as Error).message}`)
    }
  }
  // Replicas of a part share their routes (proxy/replicas.ts): one route per @id, every
  // replica's upstreams in it. A part whose replicas disagree on one is left as it is.
  const templates = new Map(desired.sources.map(s => [s.service.name, s.service.proxy_config_template]))
  // An owner whose template failed keeps its routes: its recorded upstreams stay in the route.
  const kept = [...failed].flatMap(o => observed.snippets.get(o) ?? [])
  const grouped = routesByGroup([...owners, ...kept], name => templates.get(name))
  for (const [group, err] of grouped.failed) {
    const members = owners.filter(o => replicaGroup(o) === group)
    for (const o of members) failed.add(o.owner)
    out.errors.push(`${members.map(o => o.owner).join(', ')}: ${err.message}`)
  }
  const wanted = owners.filter(o => !failed.has(o.owner))
  const plan = planCaddy(
    { owners: wanted, protected: desired.protected, failed, shared: grouped.shared },
    observed.snippets,
    live
  )
  await applyCaddyPlan(plan, client, observed.snippets, sctx, out)
  return out
}

/** Applies the actions in order; Caddy unreachable stops the rest (they would all fail alike). */
export async function applyCaddyPlan(
  plan: CaddyAction[],
  client: CaddyClient,
  recorded: Map<string, SnippetRecord>,
  sctx: Pick<SystemCtx, 'roots'>,
  out: CaddyConvergence
): Promise<void> {
  const records = recordsOver(sctx.roots, recorded)
  for (const a of plan) {
    const owner = a.kind === 'register-protected' ? 'protected' : a.owner
    // "owner: @id created|replaced|removed" for what Caddy really changed.
    const note = (snippets: Snippet[], results: string[], only: string[], as?: string): void => {
      snippets.forEach((s, i) => {
        if (only.includes(results[i]!)) out.changes.push(`${owner}: ${snippetAtId(s) ?? s.id} ${as ?? results[i]!}`)
      })
    }
    try {
      if (a.kind === 'register') {
        const { results, removed } = await registerOwner(client, records, a.record, a.register, a.stale)
        note(a.register, results, ['created', 'replaced'])
        note(a.stale, removed, ['deleted'], 'removed')
      } else if (a.kind === 'remove-owner') {
        note(a.remove, await deregisterSnippets(client, a.remove), ['deleted'], 'removed')
        records.remove(a.owner)
      } else {
        note(a.register, await registerSnippets(client, a.register), ['created', 'replaced'])
      }
    } catch (err) {
      if (err instanceof CaddyUnreachable) {
        out.errors.push(`Caddy: ${err.message}`)
        return
      }
      out.errors.push(`${owner}: ${(err as Error).message}`)
    }
  }
}
