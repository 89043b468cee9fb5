import { isProcessAlive } from '../../cgi/index.js'
import {
  clearReceipt,
  configUnitOf,
  configUnitsInstalled,
  readReceipts,
  staleReceipts,
  writeReceipt,
  type ReceiptKind
} from '../host/index.js'
import type { SystemCtx } from './context.js'

// Conductor's own starts and stops of service and deployment units. The caller does the work
// of the config unit itself (hooks, Caddy snippets: see host/config-units.ts) and leaves a
// receipt, so the config unit, started or stopped in the same systemctl call, consumes it
// instead of doing that work a second time. A receipt the unit did not consume (it was
// already in that state, or the call failed) is removed, so it cannot skip a later start or
// stop that systemd makes on its own.

async function withReceipts(
  sctx: SystemCtx,
  units: string[],
  kind: ReceiptKind,
  verb: (all: string[]) => Promise<void>,
  keep = false
): Promise<void> {
  const configs = configUnitsInstalled(sctx.scope.unitsDir)
    ? units.map(configUnitOf).filter((u): u is string => u !== undefined)
    : []
  for (const c of configs) writeReceipt(sctx.roots.run, c, kind, keep)
  let queued = false
  try {
    // One call: systemctl waits for every job, so a receipt left over afterwards was not used.
    await verb([...units, ...configs])
    queued = keep
  } finally {
    // A queued stop (keep) returns before systemd runs it: its config units consume the receipts
    // later (a reconcile removes one whose unit stopped without consuming it). Not queued after
    // all (the call failed): removed now.
    if (!queued) for (const c of configs) clearReceipt(sctx.roots.run, c, kind)
  }
}

/**
 * Before a reconcile writes receipts of its own: removes those a killed process left (they
 * would make a config unit skip work nobody did), keeping those still pending (host
 * `staleReceipts`: a live writer's, a queued stop systemd has not run yet). Asks systemd only
 * when a queued receipt needs its unit's state.
 */
export async function clearStaleReceipts(sctx: SystemCtx): Promise<void> {
  const receipts = readReceipts(sctx.roots.run)
  if (receipts.length === 0) return
  const queued = [...new Set(receipts.filter(r => r.queued).map(r => r.unit))]
  const states = new Map(
    queued.length === 0 ? [] : (await sctx.drivers.systemd.list(queued)).map(u => [u.unit, u.active] as const)
  )
  for (const r of staleReceipts(receipts, u => states.get(u), isProcessAlive))
    clearReceipt(sctx.roots.run, r.unit, r.kind)
}

/** Starts service/deployment units with their config units, whose work the caller does. */
export async function startAttached(sctx: SystemCtx, units: string[]): Promise<void> {
  if (units.length === 0) return
  await withReceipts(sctx, units, 'start', async all => {
    await sctx.drivers.systemd.start(all)
  })
}

/** Stops service/deployment units; their config units stop first (After=) and skip the work done. */
export async function stopAttached(sctx: SystemCtx, units: string[], opts: { noBlock?: boolean } = {}): Promise<void> {
  if (units.length === 0) return
  const noBlock = opts.noBlock === true
  await withReceipts(
    sctx,
    units,
    'stop',
    async all => {
      await (noBlock ? sctx.drivers.systemd.stopNoBlock(all) : sctx.drivers.systemd.stop(all))
    },
    noBlock
  )
}
