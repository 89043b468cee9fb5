import type { Ctx } from '../../context.js'
import type { SystemCtx } from '../../reconcile/index.js'
import { systemdDriver } from '../../host/index.js'
import { deploymentUnit, resolveScope, serviceUnit } from '../../model/index.js'
import { readDeployments } from '../../state/index.js'

// Listing commands (`service ls`, `deployment ls`) read declarations and records from disk and
// ask systemd only for the running state: where it cannot be asked (no manager for the scope,
// e.g. a laptop without --scope user), they show "?" for that state, say why in one line on
// stderr, and exit 0, rather than fail: listing must work anywhere.

/** The active state of every conductor-* unit, or undefined after a one-line warning. */
export async function activeUnitsOrWarn(ctx: Ctx, sctx?: SystemCtx): Promise<Map<string, string> | undefined> {
  try {
    const units = await (sctx?.drivers.systemd ?? (await systemdOf(ctx))).list(['conductor-*'])
    return new Map(units.map(u => [u.unit, u.active]))
  } catch (err) {
    const reason = ((err as Error).message.split('\n').find(l => l.trim() !== '') ?? String(err)).trim()
    ctx.io.err(`conductor: warning: running state unknown ("?"): cannot ask systemd: ${reason}\n`)
    return undefined
  }
}

/**
 * The systemd driver of the scope, without the rest of a SystemCtx (Podman, Caddy): `service ls`
 * loads only what it uses, and the Caddy driver is half of the reconciler's modules.
 */
async function systemdOf(ctx: Ctx): Promise<ReturnType<typeof systemdDriver>> {
  const scope = resolveScope(ctx.scopeFlag, ctx.env, await ctx.host(), ctx.roots)
  return systemdDriver(scope.systemctlArgs, ctx.env)
}

/**
 * Running state per service for `service ls`: empty where systemd cannot be asked. `units`:
 * activeUnitsOrWarn's answer, asked for before the service files are read so that the
 * systemctl child runs while they are (a cold `service ls` waits on both otherwise).
 */
export function runningStates(
  ctx: Ctx,
  names: string[],
  units: Map<string, string> | undefined
): Map<string, { active: boolean; deployments: number }> {
  const out = new Map<string, { active: boolean; deployments: number }>()
  if (units === undefined) return out
  const active = new Set([...units].filter(([, state]) => state === 'active').map(([unit]) => unit))
  const recs = readDeployments(ctx.roots.deployments).records
  for (const n of names) {
    const deployments = recs.filter(r => r.service === n && active.has(deploymentUnit(r.id))).length
    out.set(n, { active: active.has(serviceUnit(n)), deployments })
  }
  return out
}
