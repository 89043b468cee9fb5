import { clearReceipt, configUnitOf, configUnitsInstalled, writeReceipt, type ReceiptKind } from '../host/index.js'
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
  for (const c of configs) writeReceipt(sctx.roots.run, c, kind)
  try {
    // One call: systemctl waits for every job, so a receipt left over afterwards was not used.
    await verb([...units, ...configs])
  } finally {
    // A queued stop (keep) returns before systemd runs it: its config units consume the receipts
    // later (a reconcile removes one left behind).
    if (!keep) for (const c of configs) clearReceipt(sctx.roots.run, c, kind)
  }
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
