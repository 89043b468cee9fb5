import { convergeCaddy, type CaddyConvergence } from './caddy.js'
import { loadDesired } from './desired.js'
import {
  acquireReloadLock,
  applyPlan,
  listMarkedPods,
  notifyGateway,
  observe,
  observedPodsOf,
  type ActionResult
} from './apply.js'
import { planSuggestsPods, podListingDue, readPodListing, recordPodListing } from './pod-listing.js'
import { describeAction, planReconcile, type Action, type PlanOptions } from './plan.js'
import type { ServiceEntry } from '../model/index.js'
import { placedElsewhere, readPlacement } from '../state/index.js'
import { clearStaleReceipts } from './attached.js'
import type { SystemCtx } from './context.js'

// `conductor reload` and the service lifecycle commands: desired vs observed -> plan -> apply,
// under the host's reconcile lock.

export interface ReconcileOutcome {
  plan: Action[]
  results: ActionResult[]
  /** Services that failed to load (left as they run). */
  broken: ServiceEntry[]
  dryRun: boolean
  /** What reload changed in Caddy (absent: nothing to register anywhere). */
  caddy?: CaddyConvergence | undefined
}

export async function reconcile(
  sctx: SystemCtx,
  opts: PlanOptions & { dryRun?: boolean } = {}
): Promise<ReconcileOutcome> {
  const release = opts.dryRun === true ? () => {} : acquireReloadLock(sctx.roots.run)
  try {
    // A receipt left by a killed holder of the lock would make a config unit skip its work; one
    // still pending (a deploy's queued stop of its old deployment) must stay.
    if (opts.dryRun !== true) await clearStaleReceipts(sctx)
    // A plan limited to some services leaves strays and orphaned pods alone: no pod listing.
    // Otherwise Podman is asked while the services load when a listing is due (pod-listing.ts),
    // and after a first plan when that plan has work.
    const wantPods = opts.only === undefined
    const listFirst = wantPods && (opts.dryRun === true || podListingDue(readPodListing(sctx.roots.run), sctx.clock()))
    const pods = listFirst ? listMarkedPods(sctx) : false
    // Synced services placed on other hosts only load as disabled here (conductor/fleet/).
    const elsewhere = placedElsewhere(readPlacement(sctx.roots.lib))
    const { desired, entries, services } = await loadDesired(sctx.roots.services, sctx.validationCache, elsewhere)
    const observed = await observe(sctx, { pods })
    let plan = planReconcile(desired, observed, opts)
    if (wantPods && !listFirst && planSuggestsPods(plan)) {
      observed.pods = observedPodsOf(sctx, await listMarkedPods(sctx))
      plan = planReconcile(desired, observed, opts)
    }
    if (wantPods) recordPodListing(sctx.roots.run, observed, plan, sctx.clock())
    const broken = entries.filter(e => e.error !== undefined && (opts.only === undefined || opts.only.has(e.name)))
    if (opts.dryRun === true) return { plan, results: [], broken, dryRun: true }
    const results =
      plan.length === 0
        ? []
        : await applyPlan(plan, sctx, services, desired, observed, {
            caddyStepFollows: opts.only === undefined
          })
    if (plan.length > 0) await notifyGateway(sctx, observed).catch(() => undefined)
    // Even with nothing to do for systemd, Caddy may have lost its routes (a restart). The
    // Caddy step plans from `observed` as the apply left it: no second read of the host.
    const caddy = opts.only === undefined ? await convergeCaddy(sctx, entries, observed, elsewhere) : undefined
    return { plan, results, broken, dryRun: false, caddy }
  } finally {
    release()
  }
}

export function renderOutcome(o: ReconcileOutcome): string {
  const lines: string[] = []
  for (const b of o.broken) lines.push(`! ${b.name}: left as it runs, it does not load: ${b.error?.message ?? ''}`)
  const caddyChanges = o.caddy?.changes ?? []
  const caddyErrors = o.caddy?.errors ?? []
  if (o.plan.length === 0 && caddyChanges.length === 0 && caddyErrors.length === 0) {
    lines.push('nothing to do')
  } else if (o.plan.length === 0) {
    // Units are as they should be; only Caddy was converged.
  } else if (o.dryRun) {
    lines.push(`plan (${o.plan.length} action${o.plan.length === 1 ? '' : 's'}, dry run: nothing applied):`)
    for (const a of o.plan) lines.push(`  ${describeAction(a)}`)
  } else {
    lines.push(`plan (${o.plan.length} action${o.plan.length === 1 ? '' : 's'}):`)
    for (const a of o.plan) lines.push(`  ${describeAction(a)}`)
    for (const r of o.results) {
      lines.push(
        `${r.ok ? 'ok  ' : 'FAIL'} ${describeAction(r.action)}${r.deployment !== undefined && r.action.kind === 'create-deployment' ? ` -> ${r.deployment}` : ''}`
      )
      if (!r.ok && r.error !== undefined) lines.push(...r.error.split('\n').map(l => `     ${l}`))
    }
  }
  for (const c of caddyChanges) lines.push(`caddy ${c}`)
  for (const e of caddyErrors) lines.push(`FAIL caddy ${e}`)
  return lines.join('\n') + '\n'
}

export function outcomeJson(o: ReconcileOutcome): unknown {
  return {
    dry_run: o.dryRun,
    nothing_to_do: o.plan.length === 0 && (o.caddy?.changes.length ?? 0) === 0,
    plan: o.plan.map(a => ({ ...a, description: describeAction(a) })),
    results: o.results.map(r => ({
      action: describeAction(r.action),
      ok: r.ok,
      ...(r.error !== undefined ? { error: r.error } : {}),
      ...(r.deployment !== undefined ? { deployment: r.deployment } : {})
    })),
    broken: o.broken.map(b => ({ service: b.name, error: b.error?.message })),
    caddy: o.caddy ?? null
  }
}

export function outcomeFailed(o: ReconcileOutcome): boolean {
  return o.broken.length > 0 || o.results.some(r => !r.ok) || (o.caddy?.errors.length ?? 0) > 0
}
