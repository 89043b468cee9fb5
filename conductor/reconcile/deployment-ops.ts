import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { DeploymentFailed, PartNotFound } from '../../errors/index.js'
import { deploymentDir, readDeployments, removeDeploymentDir, writeDeployment, type DeploymentState } from '../state/index.js'
import { runHooks } from '../process/index.js'
import { writeAtomic, readOr } from '../state/index.js'
import { allocatePorts, portVariables } from '../host/index.js'
import type { Pod, Service } from '../model/index.js'
import type { SystemCtx } from './context.js'
import { startAttached, stopAttached } from './attached.js'
import { runTemplate } from '../process/index.js'
import { dropInPath, renderDeploymentDropIn } from '../host/index.js'
import { deploymentId, deploymentUnit, newDeploymentSuffix } from '../model/index.js'
import { baseVariables, deploymentVariables, type Variables } from '../model/index.js'

// One deployment's life: create (render templates into its directory), start (pre-start hooks,
// unit start, pod IP, post-start hooks, proxy registration), stop (the reverse). The reconcile
// applier and the lifecycle commands (`deployment start|stop`, `service stop`) both use these.
// The deployment's config unit does the same work when systemd starts or stops the deployment
// on its own; here it is told (attached.ts) that we did it.

export function podOf (svc: Service, part: string): Pod {
  const pod = svc.pods.find(p => p.name === part)
  if (pod === undefined) throw new PartNotFound(`service "${svc.name}" has no pod part "${part}"`, svc.file, '/pods')
  return pod
}

export function deploymentVars (sctx: SystemCtx, svc: Service, rec: DeploymentState): Variables {
  const pod = podOf(svc, rec.part)
  return deploymentVariables(svc, pod, { id: rec.id, podIp: rec.pod_ip, config: rec.config, extra: portVariables(pod.ports ?? [], rec.ports) }, baseVariables(sctx.roots, sctx.env))
}

/**
 * Renders a new deployment into its directory and records it (state.json last). Returns the
 * record; the unit is not started yet (the caller daemon-reloads once for all drop-ins first).
 */
export async function createDeployment (sctx: SystemCtx, svc: Service, part: string, hash: string, config: Record<string, string> = {}): Promise<DeploymentState> {
  const pod = podOf(svc, part)
  const id = deploymentId(svc.name, part, newDeploymentSuffix(sctx.clock()))
  const taken = new Set(readDeployments(sctx.roots.deployments).records.flatMap(r => Object.values(r.ports)))
  const rec: DeploymentState = {
    version: 1, id, service: svc.name, part, hash, desired: 'running', config,
    ports: await allocatePorts(pod.ports ?? [], taken), pod_ip: '', created_at: new Date(sctx.clock()).toISOString()
  }
  const dir = deploymentDir(sctx.roots.deployments, id)
  mkdirSync(dir, { recursive: true })
  try {
    const vars = deploymentVars(sctx, svc, rec)
    const timeoutSec = sctx.templateTimeoutSec ?? svc.template_timeout_sec
    const configMap = pod.config_map_template === undefined ? '' : await runTemplate({ file: pod.config_map_template, cwd: dir, vars, timeoutSec })
    const podYaml = await runTemplate({ file: pod.pod_template, cwd: dir, vars, timeoutSec })
    if (configMap !== '') writeFileSync(path.join(dir, 'config-map.yaml'), configMap)
    writeFileSync(path.join(dir, 'pod.yaml'), podYaml)
    // What the unit plays: the ConfigMap and the Pod as one YAML stream.
    writeFileSync(path.join(dir, 'kube.yaml'), configMap === '' ? podYaml : `${configMap.trimEnd()}\n---\n${podYaml}`)
    writeDropIn(sctx, svc, rec)
    writeDeployment(sctx.roots.deployments, rec)
  } catch (err) {
    // Nothing half-applied: an interrupted creation leaves no directory behind.
    rmSync(dir, { recursive: true, force: true })
    removeDropIn(sctx, id)
    throw err
  }
  return rec
}

/** Writes the instance drop-in; true when it changed (a daemon-reload is then needed). */
export function writeDropIn (sctx: SystemCtx, svc: Service, rec: DeploymentState): boolean {
  const file = dropInPath(sctx.scope.unitsDir, deploymentUnit(rec.id))
  const text = renderDeploymentDropIn(svc.name, podOf(svc, rec.part).service_directives)
  if (readOr(file) === text) return false
  mkdirSync(path.dirname(file), { recursive: true })
  writeAtomic(file, text)
  return true
}

export function removeDropIn (sctx: SystemCtx, id: string): void {
  rmSync(path.dirname(dropInPath(sctx.scope.unitsDir, deploymentUnit(id))), { recursive: true, force: true })
}

/** pre-start hooks, unit start, pod IP, post-start hooks, proxy registration. */
export async function startDeployment (sctx: SystemCtx, svc: Service, rec: DeploymentState): Promise<DeploymentState> {
  const dir = deploymentDir(sctx.roots.deployments, rec.id)
  await runHooks(svc, 'pre-start', deploymentVars(sctx, svc, { ...rec, pod_ip: '' }), dir, rec.part)
  const unit = deploymentUnit(rec.id)
  try {
    // Its config unit starts too and leaves the post-start hooks and routes to us (below).
    await startAttached(sctx, [unit])
  } catch (err) {
    const status = await sctx.drivers.systemd.status(unit).catch(() => '')
    // A failed unit stays "failed" until reset; stop it so the next attempt starts clean.
    await sctx.drivers.systemd.stop([unit]).catch(() => undefined)
    throw new DeploymentFailed(`deployment ${rec.id} did not start: ${(err as Error).message}${status === '' ? '' : '\n' + status}`, path.join(dir, 'kube.yaml'))
  }
  const started: DeploymentState = { ...rec, desired: 'running', pod_ip: await sctx.drivers.podman.podIp(rec.id) }
  writeDeployment(sctx.roots.deployments, started)
  const vars = deploymentVars(sctx, svc, started)
  await runHooks(svc, 'post-start', vars, dir, rec.part)
  await registerProxy(sctx, svc, vars, dir, 'register')
  return started
}

/** pre-stop hooks (a failure aborts), proxy deregistration, unit stop, post-stop hooks. */
export async function stopDeployment (sctx: SystemCtx, svc: Service | undefined, rec: DeploymentState): Promise<void> {
  const dir = deploymentDir(sctx.roots.deployments, rec.id)
  const known = svc !== undefined && svc.pods.some(p => p.name === rec.part)
  const vars = known ? deploymentVars(sctx, svc, rec) : undefined
  if (known && vars !== undefined) {
    await runHooks(svc, 'pre-stop', vars, dir, rec.part)
    await registerProxy(sctx, svc, vars, dir, 'deregister')
  }
  // Hooks and routes done here: the config unit's stop is told so. Without a service
  // definition nothing was done, and the config unit does what it still can (its routes).
  if (known) await stopAttached(sctx, [deploymentUnit(rec.id)])
  else await sctx.drivers.systemd.stop([deploymentUnit(rec.id)])
  if (known && vars !== undefined) await runHooks(svc, 'post-stop', vars, dir, rec.part)
}

/** Stops (if a service definition is known, with hooks) and forgets a deployment. */
export async function removeDeployment (sctx: SystemCtx, svc: Service | undefined, rec: DeploymentState): Promise<void> {
  await stopDeployment(sctx, svc, rec)
  removeDropIn(sctx, rec.id)
  removeDeploymentDir(sctx.roots.deployments, rec.id)
}

// Proxy snippets of a deployment: rendered in its context and registered in Caddy after it
// starts, removed before it stops (caddy-driver.ts keeps a record of what was registered).
async function registerProxy (sctx: SystemCtx, svc: Service, vars: Variables, dir: string, op: 'register' | 'deregister'): Promise<void> {
  const caddy = sctx.drivers.caddy
  if (caddy === undefined || svc.proxy_config_template === undefined) return
  await caddy[op](svc, vars, dir)
}
