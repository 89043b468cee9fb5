import type { Ctx } from '../context.js'
import { systemdDriver, type SystemdDriver } from '../host/index.js'
import { type HostConfig, type Roots, resolveScope } from '../model/index.js'
import { readIdentity, type Identity } from './identity.js'

// What every cluster operation needs: the roots, host.json, this host's identity and the
// systemd driver of its scope (to reload the gateway and restart the NATS server). Built once
// per command, per function call, and once by the daemon.

export interface ClusterCtx {
  roots: Roots
  host: HostConfig
  env: NodeJS.ProcessEnv
  identity: Identity
  systemd: SystemdDriver
  now: () => number
  log: (msg: string) => void
}

export async function clusterContext(ctx: Ctx, log: (msg: string) => void = () => {}): Promise<ClusterCtx> {
  const host = await ctx.host()
  const scope = resolveScope(ctx.scopeFlag, ctx.env, host, ctx.roots)
  return {
    roots: ctx.roots,
    host,
    env: ctx.env,
    identity: await readIdentity(ctx.roots, host, ctx.env),
    systemd: systemdDriver(scope.systemctlArgs, ctx.env),
    now: Date.now,
    log
  }
}
