import type { Ctx } from '../../context.js'
import type { ClusterCtx, DaemonTask } from '../../cluster/index.js'
import { outcomeFailed, reconcile, renderOutcome, systemContext } from '../../reconcile/index.js'
import { Scheduler } from '../../scheduler/index.js'
import { reconcileOnly, syncTask, withReloadLockRetry } from './fleet-sync.js'

// The fleet daemon's tasks once the scheduler (issue 19) runs: service sync asks the scheduler
// where each installed version runs, and both reconcile through one queue (a reconcile holds
// the host's reload lock: two at once in one process would only wait on each other).

export async function fleetTasks(ctx: Ctx, cc: ClusterCtx, log: (msg: string) => void): Promise<DaemonTask[]> {
  const sctx = await systemContext(ctx)
  let queue: Promise<unknown> = Promise.resolve()
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn)
    queue = run.catch(() => undefined)
    return run
  }
  const only = reconcileOnly(sctx, log)
  const reconcileNames = async (names: string[]): Promise<boolean> => await serial(async () => await only(names))
  const reconcileAll = async (): Promise<boolean> =>
    await serial(async () => {
      try {
        const outcome = await withReloadLockRetry(async () => await reconcile(sctx))
        if (outcome.plan.length > 0 || outcomeFailed(outcome) || (outcome.caddy?.changes.length ?? 0) > 0) {
          log(`reconcile (all):\n${renderOutcome(outcome).trimEnd()}`)
        }
        return !outcomeFailed(outcome)
      } catch (err) {
        log(`reconcile (all): ${(err as Error).message}`)
        return false
      }
    })
  const scheduler = new Scheduler({
    cc,
    servicesDir: ctx.roots.services,
    libDir: ctx.roots.lib,
    reconcile: reconcileNames,
    reconcileAll
  })
  const sync = await syncTask(ctx, cc, log, {
    reconcile: reconcileNames,
    schedule: async (service, revision) => await scheduler.schedule(service, revision),
    unschedule: async name => await scheduler.unschedule(name)
  })
  return [scheduler.task(), sync]
}
