import {
  registerSnippets,
  snippetAtId,
  snippetState,
  type CaddyClient,
  type Snippet,
  type SnippetState
} from '../../caddy/index.js'
import type { Ctx } from '../context.js'
import { readDeployment } from '../state/index.js'
import { readSnippetRecords, recordsOver } from './records.js'
import { registerServiceSnippets, renderProxySnippets } from './snippets.js'
import { desiredSnippetSources } from './sources.js'
import { replicaGroup, routedSnippets, routesByGroup } from './replicas.js'

// `conductor caddy status` compares what should be in Caddy (sources.ts) with Caddy, running
// every template; `conductor caddy sync` re-registers all of it, e.g. after Caddy restarted
// without --resume and lost API-made changes, and is the way to re-run every template when
// one reads something its recorded inputs do not cover (a reload runs only changed ones).

export interface OwnerStatus {
  owner: string
  error?: string | undefined
  /** `stale`: registered by an owner that should have no snippet now. */
  snippets: Array<{ id: string; at_id?: string | undefined; register_only: boolean; state: SnippetState | 'stale' }>
}

export async function snippetStatus(
  ctx: Pick<Ctx, 'roots' | 'env' | 'templateTimeoutSec' | 'host'>,
  caddy: CaddyClient
): Promise<OwnerStatus[]> {
  const desired = await desiredSnippetSources(ctx)
  const out: OwnerStatus[] = desired.problems.map(p => ({ owner: p.owner, error: p.message, snippets: [] }))
  const check = async (owner: string, snippets: Snippet[]): Promise<void> => {
    const rows: OwnerStatus['snippets'] = []
    for (const s of snippets)
      rows.push({
        id: s.id,
        at_id: snippetAtId(s),
        register_only: s.register_only === true,
        state: await snippetState(caddy, s)
      })
    out.push({ owner, snippets: rows })
  }
  const rendered: Array<{ owner: string; service: string; deployment?: string | undefined; snippets: Snippet[] }> = []
  // Read once; an unreadable host.json leaves every template to run, as status did before it
  // read host.json at all (it only lets the built-in peer routes be computed in the process).
  const host = await ctx.host().catch(() => undefined)
  for (const src of desired.sources) {
    try {
      const snippets = await renderProxySnippets(src.service, src.vars, {
        cwd: src.cwd,
        timeoutSec: ctx.templateTimeoutSec,
        host
      })
      const deployment = src.vars.CONDUCTOR_DEPLOYMENT || undefined
      rendered.push({ owner: src.owner, service: src.service.name, deployment, snippets })
    } catch (err) {
      out.push({ owner: src.owner, error: (err as Error).message, snippets: [] })
    }
  }
  // Replicas of a part share routes (replicas.ts): Caddy should hold the route with every
  // replica's upstreams, which is what each replica's snippet is compared with.
  const templates = new Map(desired.sources.map(s => [s.service.name, s.service.proxy_config_template]))
  const grouped = routesByGroup(rendered, name => templates.get(name))
  for (const r of rendered) {
    const group = replicaGroup(r)
    const err = group === undefined ? undefined : grouped.failed.get(group)
    if (err !== undefined) out.push({ owner: r.owner, error: err.message, snippets: [] })
    else await check(r.owner, routedSnippets(r.snippets, group === undefined ? undefined : grouped.shared.get(group)))
  }
  if (desired.protected.length > 0) await check('protected', desired.protected)
  // Owners that registered snippets but should not have any now (a disabled service, a
  // deployment without state): what they left in Caddy is reported as `stale`. Not removed
  // here: that is the reconciler's decision.
  const wanted = new Set(desired.sources.map(s => s.owner))
  for (const rec of readSnippetRecords(ctx.roots).values()) {
    if (wanted.has(rec.owner)) continue
    const rows: OwnerStatus['snippets'] = []
    for (const s of rec.snippets) {
      if (s.register_only === true) continue
      const state = await snippetState(caddy, s)
      if (state !== 'missing') rows.push({ id: s.id, at_id: snippetAtId(s), register_only: false, state: 'stale' })
    }
    if (rows.length > 0) out.push({ owner: rec.owner, snippets: rows })
  }
  return out
}

export interface OwnerSync {
  owner: string
  error?: string | undefined
  results: Array<{ id: string; at_id?: string | undefined; result: string }>
}

export async function syncSnippets(
  ctx: Pick<Ctx, 'roots' | 'env' | 'templateTimeoutSec' | 'host'>,
  caddy: CaddyClient,
  isFatal: (err: unknown) => boolean
): Promise<OwnerSync[]> {
  const desired = await desiredSnippetSources(ctx)
  const records = recordsOver(ctx.roots, readSnippetRecords(ctx.roots))
  const host = await ctx.host()
  const out: OwnerSync[] = desired.problems.map(p => ({ owner: p.owner, error: p.message, results: [] }))
  for (const src of desired.sources) {
    try {
      // A deployment listed at the start may be gone by the time its turn comes (a reload scaled
      // it down, a deploy replaced it): registering it again would send Caddy to a stopped pod.
      // Its record is read again under the service's route lock, just before Caddy is changed.
      // This narrows the race with a concurrent reload to the moment between a removal's route
      // change and its record's removal; it does not close it (caddy sync takes no reconcile lock).
      const deployment = src.vars.CONDUCTOR_DEPLOYMENT || undefined
      const stillWanted =
        deployment === undefined
          ? undefined
          : () => readDeployment(ctx.roots.deployments, deployment)?.desired === 'running'
      const r = await registerServiceSnippets(src.service, src.vars, caddy, {
        roots: ctx.roots,
        cwd: src.cwd,
        timeoutSec: ctx.templateTimeoutSec,
        records,
        host,
        stillWanted
      })
      out.push({
        owner: src.owner,
        results: [
          ...r.results.map(x => ({ id: x.id, at_id: x.atId, result: x.result })),
          ...r.removed.map(id => ({ id: '', at_id: id, result: 'removed' }))
        ]
      })
    } catch (err) {
      // Caddy down: every other owner would fail the same way; stop at once.
      if (isFatal(err)) throw err
      out.push({ owner: src.owner, error: (err as Error).message, results: [] })
    }
  }
  if (desired.protected.length > 0) {
    const results = await registerSnippets(caddy, desired.protected)
    out.push({
      owner: 'protected',
      results: desired.protected.map((s, i) => ({ id: s.id, at_id: snippetAtId(s), result: results[i]! }))
    })
  }
  return out
}
