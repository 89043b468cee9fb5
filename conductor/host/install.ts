import { chmodSync, existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { isConductorCaddyConfig, renderCaddyConfig } from './caddy-config.js'
import {
  DEPLOYMENT_CONFIG_TEMPLATE,
  SERVICE_CONFIG_TEMPLATE,
  renderDeploymentConfigTemplate,
  renderServiceConfigTemplate
} from './config-units.js'
import { SOCKET_IDLE_TEMPLATE, renderSocketIdleTemplate } from './socket-units.js'
import { CADDY_SYNC_DROPIN, CADDY_SYNC_UNIT, caddySyncDropIn, caddySyncUnitFile } from './caddy-sync-unit.js'
import { renderPeersService } from './builtin-service.js'
import type { Roots } from '../model/index.js'
import type { ScopeInfo } from '../model/index.js'
import type { SystemdDriver } from './systemd.js'
import { readOr, writeAtomic } from '../state/index.js'
import {
  CADDY_UNIT,
  DEPLOYMENT_TEMPLATE,
  GATEWAY_SOCKET,
  GATEWAY_UNIT,
  NATS_UNIT,
  SERVICE_TEMPLATE,
  SYNC_UNIT,
  renderCaddyUnit,
  renderDeploymentTemplate,
  renderGatewaySocket,
  renderGatewayUnit,
  renderNatsUnit,
  renderServiceTemplate,
  renderSyncUnit,
  type UnitPaths
} from './unit-files.js'

// `conductor system install`: a pure plan of files (so --dry-run prints exactly what would be
// written), then an applier that writes only what differs and daemon-reloads at most once.

export interface InstallFile {
  path: string
  content: string
  why: string
  mode?: number | undefined
}
export interface InstallPlan {
  dirs: string[]
  files: InstallFile[]
}

/**
 * `hasCaddyUnit`: another caddy.service exists (then Caddy and its config are the operator's).
 * `keepCaddyConfig`: ROOT/etc/conductor/caddy.json exists and is not one Conductor wrote
 * (`caddyConfigIsForeign`): it is kept as is.
 */
export function planInstall(
  p: UnitPaths,
  scope: ScopeInfo,
  roots: Roots,
  hasCaddyUnit: boolean,
  keepCaddyConfig: boolean
): InstallPlan {
  const files: InstallFile[] = [
    {
      path: path.join(scope.unitsDir, SERVICE_TEMPLATE),
      content: renderServiceTemplate(p),
      why: 'service template unit'
    },
    {
      path: path.join(scope.unitsDir, DEPLOYMENT_TEMPLATE),
      content: renderDeploymentTemplate(p),
      why: 'deployment template unit (podman kube play)'
    },
    {
      path: path.join(scope.unitsDir, SERVICE_CONFIG_TEMPLATE),
      content: renderServiceConfigTemplate(p),
      why: 'service config unit (routes and hooks, bound to the service unit)'
    },
    {
      path: path.join(scope.unitsDir, DEPLOYMENT_CONFIG_TEMPLATE),
      content: renderDeploymentConfigTemplate(p),
      why: 'deployment config unit (routes and hooks, bound to the deployment unit)'
    },
    {
      path: path.join(scope.unitsDir, SOCKET_IDLE_TEMPLATE),
      content: renderSocketIdleTemplate(),
      why: 'what a pod socket triggers while no deployment runs (nothing: connections wait)'
    },
    { path: path.join(scope.unitsDir, GATEWAY_UNIT), content: renderGatewayUnit(p), why: 'gateway unit' },
    {
      path: path.join(scope.unitsDir, GATEWAY_SOCKET),
      content: renderGatewaySocket(p),
      why: 'gateway socket (connections wait while the gateway restarts)'
    },
    // Caddy loses API-made routes when it restarts without --resume: re-register them each time it starts.
    {
      path: path.join(scope.unitsDir, CADDY_SYNC_UNIT),
      content: caddySyncUnitFile({ conductor: p.conductor, environment: p.environment }),
      why: 'caddy sync unit (routes back after a Caddy restart)'
    },
    {
      path: path.join(scope.unitsDir, CADDY_SYNC_DROPIN),
      content: caddySyncDropIn(),
      why: 'caddy.service pulls in the sync unit'
    },
    // The cluster (issue 17): its NATS server, the fleet daemon, the built-in peer functions.
    { path: path.join(scope.unitsDir, NATS_UNIT), content: renderNatsUnit(p), why: 'NATS server of the cluster' },
    {
      path: path.join(scope.unitsDir, SYNC_UNIT),
      content: renderSyncUnit(p),
      why: 'fleet daemon (peers, routes, heartbeats)'
    },
    ...renderPeersService(p, roots.services).map(f => ({
      ...f,
      why: 'built-in peer functions (add-peer, remove-peer, list-peers, identity)'
    }))
  ]
  if (!hasCaddyUnit)
    files.push({
      path: path.join(scope.unitsDir, CADDY_UNIT),
      content: renderCaddyUnit(p),
      why: 'default Caddy unit (no caddy.service found)'
    })
  if (!hasCaddyUnit && !keepCaddyConfig) {
    const why = 'default Caddy config (admin API, the "conductor-server" HTTP server)'
    files.push({ path: caddyConfigPath(roots), content: renderCaddyConfig(p), why })
  }
  return { dirs: [roots.services, roots.policies, roots.deployments, roots.run, scope.unitsDir], files }
}

export interface InstallResult {
  written: string[]
  unchanged: string[]
  reloaded: boolean
}

export async function applyInstall(plan: InstallPlan, systemd: SystemdDriver): Promise<InstallResult> {
  for (const d of plan.dirs) mkdirSync(d, { recursive: true })
  const written: string[] = []
  const unchanged: string[] = []
  for (const f of plan.files) {
    if (readOr(f.path) === f.content) {
      unchanged.push(f.path)
      continue
    }
    mkdirSync(path.dirname(f.path), { recursive: true })
    writeAtomic(f.path, f.content)
    if (f.mode !== undefined) chmodSync(f.path, f.mode)
    written.push(f.path)
  }
  const reloaded = written.some(f => f.endsWith('.service') || f.endsWith('.socket'))
  if (reloaded) await systemd.daemonReload()
  return { written, unchanged, reloaded }
}

export const caddyConfigPath = (roots: Roots): string => path.join(roots.etc, 'caddy.json')

/** caddy.json exists and is not one `system install` wrote (an operator's own): never overwritten. */
export function caddyConfigIsForeign(roots: Roots): boolean {
  const text = readOr(caddyConfigPath(roots))
  return text !== undefined && !isConductorCaddyConfig(text)
}

/** caddy.service in the scope's unit directory or a vendor directory (Debian's caddy package). */
export function caddyUnitExists(scope: ScopeInfo): boolean {
  const ours = path.join(scope.unitsDir, CADDY_UNIT)
  // Our own default unit counts as absent, so re-installing keeps it up to date.
  if (existsSync(ours)) return !readOr(ours)?.startsWith('# Written by `conductor system install`')
  return scope.vendorUnitDirs.some(d => existsSync(path.join(d, CADDY_UNIT)))
}

/** How units run the CLI: this Node and the shipped bin.js (the bundle's entry, or in dist/). */
export function conductorCommand(): string[] {
  // This module is bundled into dist/conductor/, next to bin.js (or is conductor/host/install.ts
  // under tsx, and the bundle is in dist/conductor/).
  const here = path.dirname(fileURLToPath(import.meta.url))
  const candidates = [path.join(here, 'bin.js'), path.resolve(here, '../../dist/conductor/bin.js')]
  const bin = candidates.find(c => existsSync(c)) ?? candidates[0]!
  return [process.execPath, bin]
}
