import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import path from 'node:path'
import { isProcessAlive } from '../../cgi/index.js'
import { ConductorError, ReloadLocked } from '../../errors/index.js'
import { RECONCILE_CONCURRENCY } from '../model/index.js'
import { readDeployment, readDeployments, removeDeploymentDir, type DeploymentState } from '../state/index.js'
import { readSnippetRecords, recordsOver } from '../proxy/index.js'
import {
  createDeployment,
  removeDeployment,
  removeDropIn,
  removeSocketUnits,
  startDeployment,
  writeDropIn
} from './deployment-ops.js'
import { runHooks } from '../process/index.js'
import { LABEL_ROOT, markedDeployment, type PodInfo } from '../host/index.js'
import type { Action, Desired, Observed, ObservedPod } from './plan.js'
import type { Service } from '../model/index.js'
import type { SystemCtx } from './context.js'
import { startAttached, stopAttached } from './attached.js'
import { GATEWAY_UNIT, deploymentUnit, serviceUnit } from '../model/index.js'
import { baseVariables, serviceVariables } from '../model/index.js'

// Applies a plan (the only part of reconcile that does I/O). Order: prepare new deployments
// (render, record, drop-ins) -> one daemon-reload -> start services and deployments -> remove
// replaced/unwanted deployments -> stop services and strays. A failure is recorded for its
// action and the rest goes on; a service whose new deployment failed keeps its old one.
// `observed` is what the plan was made from; the apply keeps it current (deployments created,
// started, removed; snippet records written) so what runs after it (the Caddy step) reads it
// instead of the disk.

export interface ActionResult {
  action: Action
  ok: boolean
  error?: string | undefined
  /** The deployment created or started. */
  deployment?: string | undefined
}

const ACTIVE = new Set(['active', 'activating', 'reloading'])

/**
 * Podman's pods carrying this root's mark: only those, so Podman reads no operator's pod (its
 * cost grows with the pods it lists). Started before the services load, since it is the
 * slowest read of a no-op reload.
 */
export async function listMarkedPods(sctx: SystemCtx): Promise<PodInfo[] | undefined> {
  return await sctx.drivers.podman.pods(`${LABEL_ROOT}=${sctx.roots.root}`)
}

/**
 * The one read of this host's state per reconcile: deployment records, snippet records, units
 * and the pods of `listMarkedPods` (`pods: false` for a plan limited to some services, which
 * leaves pods alone). Pods and units are read before the records, so a pod or unit seen already
 * has its record (a deploy writes it first, and holds the reconcile lock anyway).
 */
export async function observe(
  sctx: SystemCtx,
  opts: { pods?: false | Promise<PodInfo[] | undefined> } = {}
): Promise<Observed> {
  const [units, pods] = await Promise.all([
    sctx.drivers.systemd.list(['conductor-*']),
    opts.pods === false ? undefined : (opts.pods ?? listMarkedPods(sctx))
  ])
  const { records, strays } = readDeployments(sctx.roots.deployments)
  const activeUnits = new Set(units.filter(u => ACTIVE.has(u.active)).map(u => u.unit))
  const activatingUnits = new Set(units.filter(u => u.active === 'activating').map(u => u.unit))
  const failedUnits = new Set(units.filter(u => u.active === 'failed').map(u => u.unit))
  const observedPods = observedPodsOf(sctx, pods)
  return {
    records,
    strays,
    activeUnits,
    activatingUnits,
    failedUnits,
    snippets: readSnippetRecords(sctx.roots),
    pods: observedPods
  }
}

/** Podman's answer as the planner sees it: each pod with the deployment this root's mark names. */
export function observedPodsOf(sctx: SystemCtx, pods: PodInfo[] | undefined): ObservedPod[] | undefined {
  return pods?.map(p => ({ name: p.name, deployment: markedDeployment(p.labels, sctx.roots.root) }))
}

export interface ApplyOptions {
  /**
   * A started service registers its own snippets here (the config unit's other half) unless a
   * Caddy step follows the apply (a full reconcile: convergeCaddy registers them, from the
   * records, running the template once).
   */
  caddyStepFollows?: boolean
}

export async function applyPlan(
  plan: Action[],
  sctx: SystemCtx,
  services: ReadonlyMap<string, Service>,
  desired: Desired,
  observed: Observed,
  opts: ApplyOptions = {}
): Promise<ActionResult[]> {
  const results: ActionResult[] = []
  const hashOf = new Map(desired.services.map(s => [s.name, s.hash]))
  const records = new Map(observed.records.map(r => [r.id, r]))
  const strays = new Set(observed.strays)
  // Snippet records are read and written through observed.snippets (a deployment's start
  // registers its routes, its removal deregisters them).
  const actx: SystemCtx = { ...sctx, snippetRecords: recordsOver(sctx.roots, observed.snippets) }
  try {
    await applyActions(plan, actx, services, hashOf, records, strays, results, opts)
  } finally {
    // Also when something threw half-way: what is left in `observed` is what the disk holds.
    observed.records = [...records.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    observed.strays = observed.strays.filter(id => strays.has(id))
  }
  return results
}

async function applyActions(
  plan: Action[],
  sctx: SystemCtx,
  services: ReadonlyMap<string, Service>,
  hashOf: ReadonlyMap<string, string>,
  records: Map<string, DeploymentState>,
  strays: Set<string>,
  results: ActionResult[],
  opts: ApplyOptions
): Promise<void> {
  const failedServices = new Set<string>()
  const fail = (action: Action, err: unknown, service?: string): void => {
    if (service !== undefined) failedServices.add(service)
    results.push({ action, ok: false, error: err instanceof Error ? err.message : String(err) })
    if (!(err instanceof ConductorError))
      sctx.io.err(`conductor: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  }

  // 1. Prepare: render and record new deployments, write drop-ins.
  const toStart: Array<{ action: Action; rec: DeploymentState }> = []
  let dropInsChanged = false
  for (const a of plan) {
    if (a.kind !== 'create-deployment' && a.kind !== 'start-deployment') continue
    const svc = services.get(a.service)!
    try {
      if (a.kind === 'create-deployment') {
        // Ports of every recorded deployment, those created just before included, are taken.
        const taken = new Set([...records.values()].flatMap(r => Object.values(r.ports)))
        const hash = hashOf.get(a.service) ?? ''
        const rec = await createDeployment(sctx, svc, a.part, hash, {}, taken, a.replica)
        records.set(rec.id, rec)
        dropInsChanged = true
        toStart.push({ action: a, rec })
      } else {
        const rec = records.get(a.id)!
        if (writeDropIn(sctx, svc, rec)) dropInsChanged = true
        // Its unit is active without its pod: stopped first, so the start plays the pod again.
        if (a.restart === true) await sctx.drivers.systemd.stop([deploymentUnit(a.id)])
        toStart.push({ action: a, rec })
      }
    } catch (err) {
      fail(a, err, a.service)
    }
  }
  if (dropInsChanged) await sctx.drivers.systemd.daemonReload()

  // 2. Services (one systemctl call for those without service hooks), then deployments. Their
  // config units start alongside and leave the hooks and routes to this code (attached.ts).
  const serviceStarts = plan.filter((a): a is Extract<Action, { kind: 'start-service' }> => a.kind === 'start-service')
  const hasServiceHooks = (svc: Service): boolean =>
    svc.hooks.some(h => h.when === 'pre-start-service' || h.when === 'post-start-service')
  const plain = serviceStarts.filter(a => !hasServiceHooks(services.get(a.service)!))
  const started: Service[] = []
  try {
    await startAttached(
      sctx,
      plain.map(a => serviceUnit(a.service))
    )
    for (const a of plain) {
      results.push({ action: a, ok: true })
      started.push(services.get(a.service)!)
    }
  } catch {
    // One bad unit fails the batch: retry one by one to find which.
    for (const a of plain) {
      try {
        await startAttached(sctx, [serviceUnit(a.service)])
        results.push({ action: a, ok: true })
        started.push(services.get(a.service)!)
      } catch (err) {
        fail(a, err, a.service)
      }
    }
  }
  for (const a of serviceStarts.filter(a => hasServiceHooks(services.get(a.service)!))) {
    const svc = services.get(a.service)!
    try {
      const vars = serviceVariables(svc, baseVariables(sctx.roots, sctx.env))
      await runHooks(svc, 'pre-start-service', vars, svc.dir)
      await startAttached(sctx, [serviceUnit(svc.name)])
      await runHooks(svc, 'post-start-service', vars, svc.dir)
      results.push({ action: a, ok: true })
      started.push(svc)
    } catch (err) {
      fail(a, err, a.service)
    }
  }
  // The service's own snippets (the config unit's other half). A failure is reported; its
  // deployments still start, as they did when only the reload's Caddy convergence registered them.
  for (const svc of opts.caddyStepFollows === true ? [] : started) {
    try {
      await registerServiceProxy(sctx, svc, 'register')
    } catch (err) {
      const a: Action = { kind: 'start-service', service: svc.name }
      results.push({ action: a, ok: false, error: `routes: ${err instanceof Error ? err.message : String(err)}` })
    }
  }
  const serviceFailed = (service: string): boolean =>
    results.some(r => !r.ok && r.action.kind === 'start-service' && r.action.service === service)
  await eachLimit(toStart, RECONCILE_CONCURRENCY, async ({ action, rec }) => {
    const svc = services.get(rec.service)!
    if (action.kind === 'create-deployment' && serviceFailed(rec.service)) {
      await forget(sctx, rec)
      records.delete(rec.id)
      results.push({ action, ok: false, error: `not started: service ${rec.service} failed to start` })
      return
    }
    try {
      records.set(rec.id, await startDeployment(sctx, svc, rec))
      results.push({ action, ok: true, deployment: rec.id })
    } catch (err) {
      // A new deployment that could not start is forgotten (the old one keeps serving); an
      // existing one stays recorded so the next reload tries again (as far as it got: a
      // post-start hook fails after its new pod IP was recorded).
      if (action.kind === 'create-deployment') {
        await forget(sctx, rec)
        records.delete(rec.id)
      } else {
        const now = readDeployment(sctx.roots.deployments, rec.id)
        if (now !== undefined) records.set(rec.id, now)
      }
      fail(action, err, rec.service)
    }
  })

  // 3. Removals (after the replacements run), then services and strays.
  const removals = plan.filter(
    (a): a is Extract<Action, { kind: 'remove-deployment' }> => a.kind === 'remove-deployment'
  )
  await eachLimit(removals, RECONCILE_CONCURRENCY, async a => {
    if (failedServices.has(a.service) && hashOf.has(a.service)) {
      results.push({ action: a, ok: false, error: `kept: the replacement of service ${a.service} failed` })
      return
    }
    const rec = records.get(a.id)
    try {
      if (rec !== undefined) await removeDeployment(sctx, services.get(a.service), rec)
      records.delete(a.id)
      results.push({ action: a, ok: true })
    } catch (err) {
      fail(a, err)
    }
  })
  for (const a of plan) {
    try {
      if (a.kind === 'stop-service') {
        const svc = services.get(a.service)
        const vars = svc === undefined ? undefined : serviceVariables(svc, baseVariables(sctx.roots, sctx.env))
        if (svc !== undefined && vars !== undefined) {
          await runHooks(svc, 'pre-stop-service', vars, svc.dir)
          await registerServiceProxy(sctx, svc, 'deregister')
          await stopAttached(sctx, [serviceUnit(a.service)])
        } else {
          // No definition: no hook ran here; the config unit removes the routes it recorded.
          await sctx.drivers.systemd.stop([serviceUnit(a.service)])
        }
        if (svc !== undefined && vars !== undefined) await runHooks(svc, 'post-stop-service', vars, svc.dir)
        // Its sockets stopped with it (PartOf); a service that is gone or disabled loses their units.
        if (svc === undefined || svc.disable) removeSocketUnits(sctx, a.service)
      } else if (a.kind === 'stop-unit') {
        await sctx.drivers.systemd.stop([a.unit])
      } else if (a.kind === 'reset-failed-unit') {
        await sctx.drivers.systemd.resetFailed([a.unit])
      } else if (a.kind === 'remove-pod') {
        await sctx.drivers.podman.removePod(a.pod)
      } else if (a.kind === 'remove-stray') {
        removeDropIn(sctx, a.id)
        removeDeploymentDir(sctx.roots.deployments, a.id)
        strays.delete(a.id)
      } else continue
      results.push({ action: a, ok: true })
    } catch (err) {
      fail(a, err)
    }
  }
}

/** The service-context snippets of the proxy template (not its functions'), in or out of Caddy. */
async function registerServiceProxy(sctx: SystemCtx, svc: Service, op: 'register' | 'deregister'): Promise<void> {
  const caddy = sctx.drivers.caddy
  if (caddy === undefined || svc.proxy_config_template === undefined) return
  await caddy[op](svc, serviceVariables(svc, baseVariables(sctx.roots, sctx.env)), svc.dir, sctx.snippetRecords)
}

/** SIGHUP to the gateway (ExecReload) so it re-reads services; only when it runs. */
export async function notifyGateway(sctx: SystemCtx, observed: Observed): Promise<void> {
  if (observed.activeUnits.has(GATEWAY_UNIT)) await sctx.drivers.systemd.reload(GATEWAY_UNIT)
}

async function forget(sctx: SystemCtx, rec: DeploymentState): Promise<void> {
  // Its unit may be running: a post-start hook or the route registration failed after the
  // start. Stopped first, so nothing of a forgotten deployment is left (no-op when it never ran).
  await sctx.drivers.systemd.stop([deploymentUnit(rec.id)]).catch(() => undefined)
  removeDropIn(sctx, rec.id)
  removeDeploymentDir(sctx.roots.deployments, rec.id)
}

/**
 * One reconcile at a time per host. The lock file holds the owner's pid; a lock whose owner is
 * dead (kill -9) is taken over, so an interrupted reload never blocks the next one.
 */
export function acquireReloadLock(runDir: string): () => void {
  mkdirSync(runDir, { recursive: true })
  const file = path.join(runDir, 'reconcile.lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx')
      writeSync(fd, String(process.pid))
      closeSync(fd)
      return () => {
        rmSync(file, { force: true })
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const pid = Number(readFileOr(file))
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isProcessAlive(pid)) {
        throw new ReloadLocked(`another conductor (pid ${pid}) is reconciling; try again when it is done`, file)
      }
      rmSync(file, { force: true })
    }
  }
  throw new ReloadLocked('cannot take the reconcile lock', file)
}

function readFileOr(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    return ''
  }
}

/** Runs fn over items, at most `limit` at a time (order of completion is not kept). */
export async function eachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!
      await fn(item)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}
