import type { Ctx } from '../../context.js'
import { systemContext } from '../../reconcile/index.js'
import { deploymentUnit, serviceUnit } from '../../model/index.js'
import { readDeployments } from '../../state/index.js'

/**
 * Running state per service for `service ls`: best effort. Where systemd cannot be asked (no
 * manager for the scope, e.g. a laptop without --scope user), the map is empty and `ls` shows
 * "?" rather than failing: listing declarations must work anywhere.
 */
export async function runningStates (ctx: Ctx, names: string[]): Promise<Map<string, { active: boolean, deployments: number }>> {
  const out = new Map<string, { active: boolean, deployments: number }>()
  let active: Set<string>
  try {
    const sctx = await systemContext(ctx)
    const units = await sctx.drivers.systemd.list(['conductor-*'])
    active = new Set(units.filter(u => u.active === 'active').map(u => u.unit))
  } catch { return out }
  const recs = readDeployments(ctx.roots.deployments).records
  for (const n of names) {
    out.set(n, { active: active.has(serviceUnit(n)), deployments: recs.filter(r => r.service === n && active.has(deploymentUnit(r.id))).length })
  }
  return out
}
