import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { POD_LISTING_INTERVAL_SEC } from '../model/index.js'
import { readOr, writeAtomic } from '../state/index.js'
import type { Action, Observed } from './plan.js'

// When a reload asks Podman for this root's pods (`podman pod ps --filter label=...`): the pod
// rules (orphaned pods, a running deployment whose pod is gone) need that listing, and it is the
// slowest read of a reload (4.5 s with 100 pods on a loaded machine, against ~0.1 s for the rest
// of a no-op). A converged host has nothing for those rules in the common case, so a reload lists
// pods only when something suggests they may matter:
// - `--dry-run` always lists (an operator checking what a reload would do);
// - the plan made without pods is not empty (a crash, a stopped or failed unit, a removed or
//   changed service: the situations that leave orphans), and the plan is then made again with them;
// - the last listing found pod work (an orphan, a pod gone), e.g. a dry run that saw an orphan:
//   the next reload lists again and acts on it;
// - no listing for POD_LISTING_INTERVAL_SEC (none since boot: the record is under /run).
// The record of the last listing is `ROOT/run/conductor/pods-listed.json`, a hint only: unreadable
// or unwritable, the reload lists.

export interface PodListing {
  /** When Podman was last asked (ms since the epoch). */
  at: number
  /** That listing found pod work (remove-pod, or a deployment to restart because its pod is gone). */
  pending: boolean
}

export const podListingPath = (runDir: string): string => path.join(runDir, 'pods-listed.json')

/** Whether a reload whose plan needs no pods yet should ask Podman anyway, before planning. */
export function podListingDue(
  last: PodListing | undefined,
  now: number,
  intervalMs = POD_LISTING_INTERVAL_SEC * 1000
): boolean {
  if (last === undefined || last.pending) return true
  // A clock set back makes the record look newer than now: list.
  return now < last.at || now - last.at >= intervalMs
}

/** A plan made without pods that is not empty: the host is not converged, pods may matter. */
export function planSuggestsPods(plan: readonly Action[]): boolean {
  return plan.length > 0
}

/** Actions that only the pod listing can give. */
export function hasPodWork(plan: readonly Action[]): boolean {
  return plan.some(a => a.kind === 'remove-pod' || (a.kind === 'start-deployment' && a.restart === true))
}

export function readPodListing(runDir: string): PodListing | undefined {
  const text = readOr(podListingPath(runDir))
  if (text === undefined) return undefined
  try {
    const v = JSON.parse(text) as Partial<PodListing>
    return typeof v.at === 'number' && typeof v.pending === 'boolean' ? { at: v.at, pending: v.pending } : undefined
  } catch {
    return undefined
  }
}

/** Records a listing whose pods the plan was made with; best effort (the record is a hint). */
export function recordPodListing(runDir: string, observed: Observed, plan: readonly Action[], now: number): void {
  if (observed.pods === undefined) return
  try {
    mkdirSync(runDir, { recursive: true })
    writeAtomic(podListingPath(runDir), `${JSON.stringify({ at: now, pending: hasPodWork(plan) })}\n`)
  } catch {
    /* the next reload lists again */
  }
}
