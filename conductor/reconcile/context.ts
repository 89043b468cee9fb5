import { accessSync, constants } from 'node:fs'
import path from 'node:path'
import type { Ctx } from '../context.js'
import { caddyAdminListen, type HostConfig } from '../model/index.js'
import { podmanDriver, type PodmanDriver } from '../host/index.js'
import { resolveScope, type ScopeInfo } from '../model/index.js'
import { systemdDriver, type SystemdDriver } from '../host/index.js'
import { conductorCommand } from '../host/index.js'
import { caddyDriver, type CaddyDriver, type SnippetRecordStore } from '../proxy/index.js'
import { caddyConfigIsForeign, caddyUnitExists, planInstall, type InstallPlan, type UnitPaths } from '../host/index.js'
import { DEFAULT_CADDY_LISTEN, DEFAULT_GATEWAY_LISTEN } from '../model/index.js'
// Only the constant (commands/function.ts does the same): no Fastify is loaded.

// What commands that touch systemd and Podman need on top of Ctx: the scope, the host file and
// the drivers. Built only by those commands, so `service ls` works without systemd.

export type { CaddyDriver } from '../proxy/index.js'

export interface Drivers {
  systemd: SystemdDriver
  podman: PodmanDriver
  caddy?: CaddyDriver | undefined
}

export interface SystemCtx extends Ctx {
  /** host.json as Ctx.host() read it. */
  hostConfig: HostConfig
  scope: ScopeInfo
  drivers: Drivers
  /** Environment of hooks and units: CONTAINERS_CONF and such pass through. */
  clock: () => number
  /**
   * Snippet records as this command already read them (a reload's Observed); deployment starts
   * and stops register through them. Absent: each registration reads its owner's record.
   */
  snippetRecords?: SnippetRecordStore | undefined
}

export async function systemContext(ctx: Ctx, drivers?: Partial<Drivers>): Promise<SystemCtx> {
  const host = await ctx.host()
  const scope = resolveScope(ctx.scopeFlag, ctx.env, host, ctx.roots)
  return {
    ...ctx,
    hostConfig: host,
    scope,
    clock: Date.now,
    drivers: {
      systemd: drivers?.systemd ?? systemdDriver(scope.systemctlArgs, ctx.env),
      podman: drivers?.podman ?? podmanDriver(ctx.env),
      caddy: drivers?.caddy ?? caddyDriver(ctx, host)
    }
  }
}

export function unitPaths(sctx: SystemCtx): UnitPaths {
  const environment: Record<string, string> = {}
  if (sctx.roots.root !== '/') environment.CONDUCTOR_ROOT = sctx.roots.root
  if (sctx.env.CONTAINERS_CONF !== undefined) environment.CONTAINERS_CONF = sctx.env.CONTAINERS_CONF
  return {
    scope: sctx.scope.scope,
    deploymentsDir: sctx.roots.deployments,
    etcDir: sctx.roots.etc,
    libDir: sctx.roots.lib,
    runDir: sctx.roots.run,
    podman: which('podman', sctx.env) ?? '/usr/bin/podman',
    caddy: which('caddy', sctx.env) ?? '/usr/bin/caddy',
    nats: which('nats-server', sctx.env) ?? '/usr/sbin/nats-server',
    conductor: conductorCommand(),
    environment,
    caddyAdmin: caddyAdminListen(sctx.hostConfig.caddy_admin),
    caddyListen: sctx.hostConfig.caddy_listen ?? DEFAULT_CADDY_LISTEN,
    gatewayListen: sctx.hostConfig.gateway_listen ?? DEFAULT_GATEWAY_LISTEN
  }
}

// PATH lookup without spawning a shell: unit files need absolute program paths.
function which(bin: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(':')) {
    if (!dir.startsWith('/')) continue
    const file = path.join(dir, bin)
    try {
      accessSync(file, constants.X_OK)
      return file
    } catch {
      /* next */
    }
  }
  return undefined
}

/**
 * What `system install` writes on this host now, given what is already there (a caddy.service
 * or caddy.json of the operator's own): `system install` applies it, doctor compares it.
 */
export function hostInstallPlan(sctx: SystemCtx, paths: UnitPaths = unitPaths(sctx)): InstallPlan {
  return planInstall(paths, sctx.scope, sctx.roots, caddyUnitExists(sctx.scope), caddyConfigIsForeign(sctx.roots))
}
