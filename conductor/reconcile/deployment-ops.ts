import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { DeploymentFailed, PartNotFound } from '../../errors/index.js'
import { deploymentDir, removeDeploymentDir, writeDeployment, type DeploymentState } from '../state/index.js'
import { runHooks } from '../process/index.js'
import { writeAtomic, readOr } from '../state/index.js'
import { LABEL_DEPLOYMENT, LABEL_ROOT, allocatePorts, markPodYaml, portVariables } from '../host/index.js'
import type { Pod, Service } from '../model/index.js'
import type { SystemCtx } from './context.js'
import { startAttached, stopAttached } from './attached.js'
import { runTemplate } from '../process/index.js'
import { dropInPath, renderDeploymentDropIn } from '../host/index.js'
import {
  podPidFile,
  podSocketsScript,
  podSocketsScriptPath,
  renderSocketUnit,
  socketDropInLines
} from '../host/index.js'
import { parseListen, socketUnit, socketUnitService } from '../model/index.js'
import { unitPaths } from './context.js'
import { deploymentId, deploymentUnit, newDeploymentSuffix } from '../model/index.js'
import { baseVariables, deploymentVariables, type Variables } from '../model/index.js'

// One deployment's life: create (render templates into its directory), start (pre-start hooks,
// unit start, pod IP, post-start hooks, proxy registration), stop (the reverse). The reconcile
// applier and the lifecycle commands (`deployment start|stop`, `service stop`) both use these.
// The deployment's config unit does the same work when systemd starts or stops the deployment
// on its own; here it is told (attached.ts) that we did it.

export function podOf(svc: Service, part: string): Pod {
  const pod = svc.pods.find(p => p.name === part)
  if (pod === undefined) throw new PartNotFound(`service "${svc.name}" has no pod part "${part}"`, svc.file, '/pods')
  return pod
}

export function deploymentVars(sctx: SystemCtx, svc: Service, rec: DeploymentState): Variables {
  const pod = podOf(svc, rec.part)
  return deploymentVariables(
    svc,
    pod,
    { id: rec.id, podIp: rec.pod_ip, config: rec.config, extra: portVariables(pod.ports ?? [], rec.ports) },
    baseVariables(sctx.roots, sctx.env)
  )
}

/**
 * Renders a new deployment into its directory and records it (state.json last). Returns the
 * record; the unit is not started yet (the caller daemon-reloads once for all drop-ins first).
 * `taken`: host ports of the recorded deployments, from the caller's read of them. `replica`:
 * its index among the part's replicas (recorded when not 0).
 */
export async function createDeployment(
  sctx: SystemCtx,
  svc: Service,
  part: string,
  hash: string,
  config: Record<string, string>,
  taken: ReadonlySet<number>,
  replica = 0
): Promise<DeploymentState> {
  const pod = podOf(svc, part)
  const id = deploymentId(svc.name, part, newDeploymentSuffix(sctx.clock()))
  const rec: DeploymentState = {
    version: 1,
    id,
    service: svc.name,
    part,
    hash,
    desired: 'running',
    config,
    ports: await allocatePorts(pod.ports ?? [], taken),
    pod_ip: '',
    created_at: new Date(sctx.clock()).toISOString(),
    marked: true,
    ...(replica === 0 ? {} : { replica })
  }
  const dir = deploymentDir(sctx.roots.deployments, id)
  mkdirSync(dir, { recursive: true })
  try {
    const vars = deploymentVars(sctx, svc, rec)
    const timeoutSec = sctx.templateTimeoutSec ?? svc.template_timeout_sec
    const configMap =
      pod.config_map_template === undefined
        ? ''
        : await runTemplate({ file: pod.config_map_template, cwd: dir, vars, timeoutSec })
    const podYaml = await runTemplate({ file: pod.pod_template, cwd: dir, vars, timeoutSec })
    if ((pod.sockets ?? []).length > 0 && !RESTART_NEVER.test(podYaml)) {
      // A container Podman restarts itself would come back without its sockets (only the
      // start script passes them): systemd restarts the whole deployment instead.
      throw new DeploymentFailed(
        'a pod with sockets must declare `restartPolicy: Never` in its spec (systemd restarts the deployment, ' +
          'with its sockets; a container Podman restarted would get none)',
        `${pod.pod_template} (output)`
      )
    }
    if (configMap !== '') writeFileSync(path.join(dir, 'config-map.yaml'), configMap)
    writeFileSync(path.join(dir, 'pod.yaml'), podYaml)
    // What the unit plays: the ConfigMap and the Pod as one YAML stream, the Pod carrying
    // Conductor's mark (host/pod-mark.ts) so a pod a crash leaves behind is known as ours.
    const kube = configMap === '' ? podYaml : `${configMap.trimEnd()}\n---\n${podYaml}`
    const mark = { [LABEL_DEPLOYMENT]: id, [LABEL_ROOT]: sctx.roots.root }
    writeFileSync(path.join(dir, 'kube.yaml'), markPodYaml(kube, mark, `${pod.pod_template} (output)`))
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

const RESTART_NEVER = /["']?restartPolicy["']?\s*:\s*["']?Never["']?/

/** Writes the instance drop-in; true when it changed (a daemon-reload is then needed). */
export function writeDropIn(sctx: SystemCtx, svc: Service, rec: DeploymentState): boolean {
  const file = dropInPath(sctx.scope.unitsDir, deploymentUnit(rec.id))
  const pod = podOf(svc, rec.part)
  const sockets = writeSocketUnits(sctx, svc, rec, pod)
  const text = renderDeploymentDropIn(svc.name, pod.service_directives, sockets.lines)
  if (readOr(file) === text && !sockets.changed) return false
  mkdirSync(path.dirname(file), { recursive: true })
  writeAtomic(file, text)
  return true
}

/**
 * A part with sockets: the service's socket units (shared by its deployments) and this
 * deployment's start script; the drop-in lines that pass the sockets to it.
 */
function writeSocketUnits(
  sctx: SystemCtx,
  svc: Service,
  rec: DeploymentState,
  pod: Pod
): { lines?: { unit: string; service: string }; changed: boolean } {
  const sockets = pod.sockets ?? []
  if (sockets.length === 0) return { changed: false }
  let changed = false
  for (const s of sockets) {
    const listen = parseListen(s.listen)
    // resolveService refused a listen that does not parse.
    if (typeof listen === 'string') throw new DeploymentFailed(listen, svc.file)
    if (listen.kind === 'unix') mkdirSync(path.dirname(path.join(sctx.roots.root, listen.path)), { recursive: true })
    const file = path.join(sctx.scope.unitsDir, socketUnit(svc.name, s.name))
    const text = renderSocketUnit(sctx.roots.root, svc.name, s.name, listen)
    if (readOr(file) === text) continue
    writeAtomic(file, text)
    changed = true
  }
  const dir = deploymentDir(sctx.roots.deployments, rec.id)
  const podman = unitPaths(sctx).podman
  const pidFile = podPidFile(dir)
  const script = podSocketsScript({
    podman,
    kube: path.join(dir, 'kube.yaml'),
    pod: rec.id,
    pidFile,
    fds: sockets.length
  })
  if (readOr(podSocketsScriptPath(dir)) !== script) writeAtomic(podSocketsScriptPath(dir), script)
  const lines = socketDropInLines({
    units: sockets.map(s => socketUnit(svc.name, s.name)),
    script: podSocketsScriptPath(dir),
    pidFile,
    podman,
    stopTimeoutSec: pod.drain_timeout_sec ?? DEFAULT_SOCKET_DRAIN_SEC
  })
  return { lines, changed }
}

/** How long an application with sockets has to finish its requests after SIGTERM (drain_timeout_sec). */
export const DEFAULT_SOCKET_DRAIN_SEC = 30

/** Removes the socket units of a service that is gone or disabled (stopped already). */
export function removeSocketUnits(sctx: SystemCtx, service: string): boolean {
  let removed = false
  let names: string[] = []
  try {
    names = readdirSync(sctx.scope.unitsDir)
  } catch {
    return false
  }
  for (const f of names) {
    if (socketUnitService(f) !== service) continue
    rmSync(path.join(sctx.scope.unitsDir, f), { force: true })
    removed = true
  }
  return removed
}

/**
 * Makes systemd see a just-created deployment's drop-in before its unit starts. The instance
 * was never loaded, so systemd reads it and its drop-in from disk at first use: one `systemctl
 * show` checks that it did. A daemon-reload (every unit re-read, the generators rerun: 1–5 s on
 * a loaded machine) only when it did not, e.g. an instance loaded before its drop-in existed.
 */
export async function loadNewDeploymentUnit(sctx: SystemCtx, id: string): Promise<void> {
  const unit = deploymentUnit(id)
  const seen = await sctx.drivers.systemd.seesDropIn(unit, dropInPath(sctx.scope.unitsDir, unit)).catch(() => false)
  if (!seen) await sctx.drivers.systemd.daemonReload()
}

export function removeDropIn(sctx: SystemCtx, id: string): void {
  rmSync(path.dirname(dropInPath(sctx.scope.unitsDir, deploymentUnit(id))), { recursive: true, force: true })
}

/** pre-start hooks, unit start, pod IP, post-start hooks, proxy registration. */
export async function startDeployment(sctx: SystemCtx, svc: Service, rec: DeploymentState): Promise<DeploymentState> {
  await startDeploymentUnit(sctx, svc, rec)
  return await finishStart(sctx, svc, rec)
}

/** The first half of startDeployment: pre-start hooks and the unit start (the pod runs). */
export async function startDeploymentUnit(sctx: SystemCtx, svc: Service, rec: DeploymentState): Promise<void> {
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
    const detail = `${(err as Error).message}${status === '' ? '' : '\n' + status}`
    throw new DeploymentFailed(`deployment ${rec.id} did not start: ${detail}`, path.join(dir, 'kube.yaml'))
  }
}

/**
 * The second half: the pod IP (two podman processes) recorded, post-start hooks, proxy
 * registration. A deploy runs it beside the readiness probe when no post-start hook waits for it.
 */
export async function finishStart(sctx: SystemCtx, svc: Service, rec: DeploymentState): Promise<DeploymentState> {
  const dir = deploymentDir(sctx.roots.deployments, rec.id)
  const started: DeploymentState = { ...rec, desired: 'running', pod_ip: await sctx.drivers.podman.podIp(rec.id) }
  writeDeployment(sctx.roots.deployments, started)
  const vars = deploymentVars(sctx, svc, started)
  await runHooks(svc, 'post-start', vars, dir, rec.part)
  await registerProxy(sctx, svc, vars, dir, 'register')
  return started
}

/** Whether the part has hooks of this kind (hooks without `parts` apply to every part). */
export function hasHooks(svc: Service, when: string, part: string): boolean {
  return svc.hooks.some(h => h.when === when && (h.parts === undefined || h.parts.includes(part)))
}

export interface StopOptions {
  /**
   * Queue the unit's stop and return (`systemctl stop --no-block`), unless post-stop hooks must
   * run after it: what `conductor deploy` does with the old deployment once it is drained.
   */
  noBlock?: boolean
}

/**
 * pre-stop hooks (a failure aborts), proxy deregistration, unit stop, post-stop hooks. Returns
 * true when the stop was only queued (`noBlock` and no post-stop hook to run after it).
 */
export async function stopDeployment(
  sctx: SystemCtx,
  svc: Service | undefined,
  rec: DeploymentState,
  opts: StopOptions = {}
): Promise<boolean> {
  const dir = deploymentDir(sctx.roots.deployments, rec.id)
  // biome-ignore lint/complexity/useOptionalChain: the explicit test narrows svc for TypeScript below
  const known = svc !== undefined && svc.pods.some(p => p.name === rec.part)
  const vars = known ? deploymentVars(sctx, svc, rec) : undefined
  if (known && vars !== undefined) {
    await runHooks(svc, 'pre-stop', vars, dir, rec.part)
    await registerProxy(sctx, svc, vars, dir, 'deregister')
  }
  // Hooks and routes done here: the config unit's stop is told so. Without a service
  // definition nothing was done, and the config unit does what it still can (its routes).
  // Post-stop hooks need the stop waited for; otherwise a deploy only queues it.
  const noBlock = opts.noBlock === true && !(known && hasHooks(svc, 'post-stop', rec.part))
  const unit = deploymentUnit(rec.id)
  if (known) await stopAttached(sctx, [unit], { noBlock })
  else if (noBlock) await sctx.drivers.systemd.stopNoBlock([unit])
  else await sctx.drivers.systemd.stop([unit])
  if (noBlock) return true
  if (known && vars !== undefined) await runHooks(svc, 'post-stop', vars, dir, rec.part)
  return false
}

/**
 * Stops (if a service definition is known, with hooks) and forgets a deployment. With `noBlock`
 * the record, drop-in and directory go at once while systemd stops the unit: the unit keeps
 * the configuration it was loaded with, and its ExecStopPost (`podman pod rm`) needs none of them.
 */
export async function removeDeployment(
  sctx: SystemCtx,
  svc: Service | undefined,
  rec: DeploymentState,
  opts: StopOptions = {}
): Promise<boolean> {
  const queued = await stopDeployment(sctx, svc, rec, opts)
  removeDropIn(sctx, rec.id)
  removeDeploymentDir(sctx.roots.deployments, rec.id)
  return queued
}

// Proxy snippets of a deployment: rendered in its context and registered in Caddy after it
// starts, removed before it stops (proxy/driver.ts keeps a record of what was registered).
async function registerProxy(
  sctx: SystemCtx,
  svc: Service,
  vars: Variables,
  dir: string,
  op: 'register' | 'deregister'
): Promise<void> {
  const caddy = sctx.drivers.caddy
  if (caddy === undefined || svc.proxy_config_template === undefined) return
  await caddy[op](svc, vars, dir, sctx.snippetRecords)
}
