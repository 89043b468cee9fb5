import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { acquireDeployLock } from '../state/index.js'
import { dialsOf, runDeploy, type DeployOutcome, type DeployStep, type DeploymentRef } from './steps.js'
import { serviceHash } from '../reconcile/index.js'
import { deploymentDir, readDeployments, type DeploymentState } from '../state/index.js'
import { createDeployment, deploymentVars, removeDeployment, startDeployment } from '../reconcile/index.js'
import { readSnippetRecord, renderProxySnippets, type SnippetOwnerContext } from '../proxy/index.js'
import type { Snippet } from '../../caddy/index.js'
import { waitDeploymentReady } from './deployment-ready.js'
import { acquireReloadLock } from '../reconcile/index.js'
import type { Pod, Service } from '../model/index.js'
import type { SystemCtx } from '../reconcile/index.js'

// `conductor deploy` on real drivers: deploy.ts decides the order, this module does each step
// with the reconcile code (createDeployment/startDeployment/removeDeployment), the Caddy driver
// and Caddy's own upstream counters for draining.

export const DEFAULT_DRAIN_TIMEOUT_SEC = 30

export interface DeployRequest {
  /** Config on top of the current deployment's (--set); with `exact`, the whole deployment config. */
  config: Record<string, string>
  exact?: boolean
  part?: string | undefined
  drainTimeoutSec?: number | undefined
  onStep?: (part: string, step: DeployStep) => void
  beforeStep?: (name: string) => Promise<void>
}

export interface PartOutcome { part: string, outcome: DeployOutcome, config: Record<string, string> }

export async function deployService (sctx: SystemCtx, svc: Service, req: DeployRequest): Promise<PartOutcome[]> {
  const lock = acquireDeployLock(path.join(sctx.roots.run, 'locks'), svc.name, `conductor deploy ${svc.name}`)
  let releaseReload: (() => void) | undefined
  try {
    // A reload during a deploy would see two deployments of one part and remove one.
    releaseReload = acquireReloadLock(sctx.roots.run)
    const parts = svc.pods.filter(p => req.part === undefined || p.name === req.part)
    const out: PartOutcome[] = []
    for (const pod of parts) out.push(await deployPart(sctx, svc, pod, req))
    return out
  } finally {
    releaseReload?.()
    lock.release()
  }
}

async function deployPart (sctx: SystemCtx, svc: Service, pod: Pod, req: DeployRequest): Promise<PartOutcome> {
  const running = readDeployments(sctx.roots.deployments).records.filter(r => r.service === svc.name && r.part === pod.name && r.desired === 'running')
  const config = req.exact === true ? req.config : { ...running.at(-1)?.config, ...req.config }
  // Steps that start and stop deployments must not touch Caddy on their own: deploy.ts decides
  // when routes switch.
  const quiet: SystemCtx = { ...sctx, drivers: { ...sctx.drivers, caddy: undefined } }
  const caddy = sctx.drivers.caddy
  const records = new Map<string, DeploymentState>(running.map(r => [r.id, r]))
  const refOf = (rec: DeploymentState): DeploymentRef => ({
    id: rec.id,
    upstreams: (readSnippetRecord(sctx.roots, `deployment@${rec.id}`)?.snippets ?? []).flatMap(s => dialsOf(s.config))
  })
  const old = running.map(refOf)
  const rendered = new Map<string, Promise<Snippet[]>>()
  // The deployment started by a reload has no history entry yet: remember it, so that a
  // rollback after the first deploy goes back to it.
  const previous = running.at(-1)
  if (previous !== undefined && (readHistory(sctx, svc.name).parts[pod.name] ?? []).length === 0) recordHistory(sctx, svc.name, pod.name, previous.config)
  const outcome = await runDeploy(old, {
    start: async () => {
      const created = await createDeployment(quiet, svc, pod.name, serviceHash(svc), config)
      await sctx.drivers.systemd.daemonReload()
      try {
        const started = await startDeployment(quiet, svc, created)
        records.set(started.id, started)
        return { id: started.id, upstreams: [] }
      } catch (err) {
        await removeDeployment(quiet, svc, created).catch(() => undefined)
        throw err
      }
    },
    waitReady: async d => {
      const rec = records.get(d.id)!
      // Render the new routes while the probe runs, so that only Caddy's config change sits
      // between the first ready answer and Caddy routing to the new deployment.
      if (caddy !== undefined) rendered.set(d.id, renderProxySnippets(svc, deploymentVars(sctx, svc, rec), { cwd: deploymentDir(sctx.roots.deployments, rec.id), timeoutSec: sctx.templateTimeoutSec }))
      rendered.get(d.id)?.catch(() => undefined)
      return await waitDeploymentReady(sctx, svc, pod, rec)
    },
    switchRoutes: async (fresh, previous) => {
      const owner = (d: DeploymentRef): SnippetOwnerContext => {
        const rec = records.get(d.id)!
        return { vars: deploymentVars(sctx, svc, rec), cwd: deploymentDir(sctx.roots.deployments, rec.id) }
      }
      await caddy?.switch(svc, { ...owner(fresh), snippets: await rendered.get(fresh.id) }, previous.map(owner))
    },
    deregister: async d => {
      const rec = records.get(d.id)!
      await caddy?.deregister(svc, deploymentVars(sctx, svc, rec), deploymentDir(sctx.roots.deployments, rec.id))
    },
    inFlight: async upstreams => {
      if (caddy === undefined) return 0
      const all = await caddy.client().upstreams()
      return all.filter(u => upstreams.includes(u.address)).reduce((n, u) => n + u.num_requests, 0)
    },
    stop: async d => { await removeDeployment(quiet, svc, records.get(d.id)!) },
    sleep: async ms => await new Promise(resolve => setTimeout(resolve, ms)),
    now: () => performance.now()
  }, {
    drainTimeoutMs: (req.drainTimeoutSec ?? pod.drain_timeout_sec ?? DEFAULT_DRAIN_TIMEOUT_SEC) * 1000,
    drainPollMs: 100,
    onStep: step => req.onStep?.(pod.name, step),
    beforeStep: req.beforeStep
  })
  recordHistory(sctx, svc.name, pod.name, config)
  return { part: pod.name, outcome, config }
}

// Deploy history per service part, newest last, so `deployment rollback` can go back.
interface History { parts: Record<string, Array<{ config: Record<string, string>, at: string }>> }

function historyFile (sctx: SystemCtx, service: string): string {
  return path.join(sctx.roots.lib, 'deploys', `${service}.json`)
}

export function readHistory (sctx: SystemCtx, service: string): History {
  try { return JSON.parse(readFileSync(historyFile(sctx, service), 'utf8')) as History } catch { return { parts: {} } }
}

function recordHistory (sctx: SystemCtx, service: string, part: string, config: Record<string, string>): void {
  const h = readHistory(sctx, service)
  h.parts[part] = [...(h.parts[part] ?? []), { config, at: new Date().toISOString() }].slice(-20)
  mkdirSync(path.dirname(historyFile(sctx, service)), { recursive: true })
  writeFileSync(historyFile(sctx, service), JSON.stringify(h, null, 2) + '\n')
}
