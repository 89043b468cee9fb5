import type { Ctx } from '../../context.js'
import type { ClusterCtx, DaemonTask } from '../../cluster/index.js'
import { systemContext } from '../../reconcile/index.js'
import { baseVariables, loadService, serviceUnit, serviceVariables } from '../../model/index.js'
import { caddyClient, registerServiceSnippets } from '../../proxy/index.js'
import { Scheduler } from '../../scheduler/index.js'
import { reconcileOnly, syncTask } from './fleet-sync.js'

// The fleet daemon's tasks once the scheduler (issue 19) runs: service sync asks the scheduler
// where each installed version runs, and both reconcile through one queue (a reconcile holds
// the host's reload lock: two at once in one process would only wait on each other); the
// snippets of services that depend on a moved one are rendered in the same queue.

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
  // A service that depends on one that moved: its proxy snippets rendered again with the new
  // hosts (their variables changed) and registered, where it runs here; nothing else is read
  // (a full reconcile lists every unit and pod: tens of seconds on a loaded host).
  const renderSnippets = async (names: string[]): Promise<boolean> =>
    await serial(async () => {
      let ok = true
      const client = caddyClient(ctx, await ctx.host())
      for (const name of names) {
        try {
          const svc = await loadService(ctx.roots.services, name, ctx.validationCache)
          const unit = serviceUnit(name)
          const running = (await sctx.drivers.systemd.list([unit])).some(u => u.unit === unit && u.active === 'active')
          if (!running || svc.proxy_config_template === undefined) continue
          const r = await registerServiceSnippets(
            svc,
            serviceVariables(svc, baseVariables(ctx.roots, ctx.env)),
            client,
            {
              roots: ctx.roots,
              cwd: svc.dir,
              timeoutSec: ctx.templateTimeoutSec,
              host: await ctx.host()
            }
          )
          const changed = r.results.filter(x => x.result !== 'unchanged')
          if (changed.length > 0)
            log(`caddy service@${name}: ${changed.map(x => `${x.atId ?? x.id} ${x.result}`).join(', ')}`)
        } catch (err) {
          ok = false
          log(`snippets of ${name}: ${(err as Error).message}`)
        }
      }
      return ok
    })
  const scheduler = new Scheduler({
    cc,
    servicesDir: ctx.roots.services,
    libDir: ctx.roots.lib,
    reconcile: reconcileNames,
    renderSnippets
  })
  const sync = await syncTask(ctx, cc, log, {
    reconcile: reconcileNames,
    schedule: async (service, revision) => await scheduler.schedule(service, revision),
    unschedule: async name => await scheduler.unschedule(name)
  })
  return [scheduler.task(), sync]
}
