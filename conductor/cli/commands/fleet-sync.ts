import path from 'node:path'
import type { Ctx } from '../../context.js'
import type { ClusterCtx, DaemonTask } from '../../cluster/index.js'
import { SYNC_STATUS_FILE, serviceSyncTask } from '../../fleet/index.js'
import { outcomeFailed, reconcile, renderOutcome, systemContext } from '../../reconcile/index.js'

// The fleet daemon's service sync task, given what only the CLI may combine: reconcile (of
// conductor/reconcile) limited to the services that changed.

export async function syncTask (ctx: Ctx, cc: ClusterCtx, log: (msg: string) => void): Promise<DaemonTask> {
  const sctx = await systemContext(ctx)
  return serviceSyncTask({
    cc,
    servicesDir: ctx.roots.services,
    libDir: ctx.roots.lib,
    statusFile: path.join(ctx.roots.run, SYNC_STATUS_FILE),
    reconcile: async names => {
      try {
        const outcome = await reconcile(sctx, { only: new Set(names) })
        if (outcome.plan.length > 0 || outcomeFailed(outcome)) {
          log(`reconcile ${names.join(', ')}:\n${renderOutcome(outcome).trimEnd()}`)
        }
        return !outcomeFailed(outcome)
      } catch (err) {
        log(`reconcile ${names.join(', ')}: ${(err as Error).message}`)
        return false
      }
    }
  })
}
