import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { acquireDeployLock } from '../state/index.js'
import { dialsOf, runDeploy, type DeployOutcome, type DeployStep, type DeploymentRef } from './steps.js'
import { serviceHash } from '../reconcile/index.js'
import { deploymentDir, readDeployments, type DeploymentState } from '../state/index.js'
import {
  createDeployment,
  deploymentVars,
  finishStart,
  hasHooks,
  loadNewDeploymentUnit,
  removeDeployment,
  startDeploymentUnit
} from '../reconcile/index.js'
import { readSnippetRecord, renderProxySnippets, type SnippetOwnerContext } from '../proxy/index.js'
import type { Snippet } from '../../caddy/index.js'
import { READINESS_DEFAULTS, waitReady } from './readiness.js'
import { readinessCheck } from './deployment-ready.js'
import { acquireReloadLock } from '../reconcile/index.js'
import type { Pod, Service } from '../model/index.js'
import { baseVariables, serviceVariables } from '../model/index.js'
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

export interface PartOutcome {
  part: string
  outcome: DeployOutcome
  config: Record<string, string>
}

export async function deployService(sctx: SystemCtx, svc: Service, req: DeployRequest): Promise<PartOutcome[]> {
  const lock = acquireDeployLock(path.join(sctx.roots.run, 'locks'), svc.name, `conductor deploy ${svc.name}`)
  let releaseReload: (() => void) | undefined
  try {
    // A reload during a deploy would see two deployments of one part and remove one.
    releaseReload = acquireReloadLock(sctx.roots.run)
    const parts = svc.pods.filter(p => req.part === undefined || p.name === req.part)
    // Read once (under both locks: nobody else creates or removes deployments meanwhile); each
    // part adds what it creates, so the next one does not take its ports.
    const known = new Map(readDeployments(sctx.roots.deployments).records.map(r => [r.id, r]))
    const out: PartOutcome[] = []
    for (const pod of parts) out.push(await deployPart(sctx, svc, pod, req, known))
    return out
  } finally {
    releaseReload?.()
    lock.release()
  }
}

async function deployPart(
  sctx: SystemCtx,
  svc: Service,
  pod: Pod,
  req: DeployRequest,
  known: Map<string, DeploymentState>
): Promise<PartOutcome> {
  const running = [...known.values()].filter(
    r => r.service === svc.name && r.part === pod.name && r.desired === 'running'
  )
  const config = req.exact === true ? req.config : { ...running.at(-1)?.config, ...req.config }
  // Steps that start and stop deployments must not touch Caddy on their own: deploy.ts decides
  // when routes switch.
  const quiet: SystemCtx = { ...sctx, drivers: { ...sctx.drivers, caddy: undefined } }
  const caddy = sctx.drivers.caddy
  const records = new Map<string, DeploymentState>(running.map(r => [r.id, r]))
  // The part's sockets are the service's, not one deployment's: the new deployment accepts on
  // them too, so Caddy's counters for them never say the old one is drained. The old one's
  // application drains itself (SIGTERM, drain_timeout_sec) when its unit stops.
  const shared = new Set(Object.entries(socketVars(sctx, svc)).flatMap(([k, v]) => (k.endsWith('_DIAL') ? [v] : [])))
  const refOf = (rec: DeploymentState): DeploymentRef => ({
    id: rec.id,
    upstreams: (readSnippetRecord(sctx.roots, `deployment@${rec.id}`)?.snippets ?? [])
      .flatMap(s => dialsOf(s.config))
      .filter(u => !shared.has(u))
  })
  const old = running.map(refOf)
  const rendered = new Map<string, Promise<Snippet[]>>()
  const finishing = new Map<string, Promise<DeploymentState>>()
  // The deployment started by a reload has no history entry yet: remember it, so that a
  // rollback after the first deploy goes back to it.
  const previous = running.at(-1)
  if (previous !== undefined && (readHistory(sctx, svc.name).parts[pod.name] ?? []).length === 0)
    recordHistory(sctx, svc.name, pod.name, previous.config)
  const outcome = await runDeploy(
    old,
    {
      start: async replica => {
        const taken = new Set([...known.values()].flatMap(r => Object.values(r.ports)))
        const created = await createDeployment(quiet, svc, pod.name, serviceHash(svc), config, taken, replica)
        known.set(created.id, created)
        await loadNewDeploymentUnit(sctx, created.id)
        try {
          await startDeploymentUnit(quiet, svc, created)
          records.set(created.id, created)
          if (hasHooks(svc, 'post-start', pod.name)) {
            records.set(created.id, await finishStart(quiet, svc, created))
          } else {
            // Nothing waits for the pod IP (two podman processes) before readiness: look it up
            // while the probe runs; waitReady awaits it, and a failure is a failed readiness.
            const later = finishStart(quiet, svc, created)
            later.catch(() => undefined)
            finishing.set(created.id, later)
          }
          known.set(created.id, records.get(created.id)!)
          return { id: created.id, upstreams: [] }
        } catch (err) {
          await removeDeployment(quiet, svc, created).catch(() => undefined)
          known.delete(created.id)
          throw err
        }
      },
      waitReady: async d => {
        // The record with its pod IP, then the new routes rendered from it while the probe runs,
        // so that only Caddy's config change sits between the first ready answer and Caddy
        // routing to the new deployment.
        const finished = (finishing.get(d.id) ?? Promise.resolve(records.get(d.id)!)).then(rec => {
          records.set(rec.id, rec)
          known.set(rec.id, rec)
          const cwd = deploymentDir(sctx.roots.deployments, rec.id)
          if (caddy !== undefined) {
            const vars = deploymentVars(sctx, svc, rec)
            const snippets = renderProxySnippets(svc, vars, { cwd, timeoutSec: sctx.templateTimeoutSec })
            snippets.catch(() => undefined)
            rendered.set(rec.id, snippets)
          }
        })
        const check = readinessCheck(sctx, svc, pod, records.get(d.id)!)
        const r = pod.readiness
        const abort = new AbortController()
        const probing =
          check === undefined
            ? undefined
            : waitReady(check, {
                intervalMs: r?.interval_ms ?? READINESS_DEFAULTS.intervalMs,
                timeoutMs: (r?.timeout_sec ?? READINESS_DEFAULTS.timeoutMs / 1000) * 1000,
                successes: r?.successes ?? READINESS_DEFAULTS.successes,
                signal: abort.signal
              })
        try {
          await finished
          // The switch step then holds only Caddy's config change (a failed render fails there).
          await rendered.get(d.id)?.catch(() => undefined)
        } catch (err) {
          abort.abort()
          await probing
          return { ready: false, detail: `recording the started deployment failed: ${(err as Error).message}` }
        }
        if (probing === undefined) {
          return { ready: true, detail: 'no port and no readiness check: ready once the unit is active' }
        }
        const result = await probing
        const probes = `${result.probes} probe${result.probes === 1 ? '' : 's'}`
        const detail = `${result.last?.detail ?? 'no probe'} (${probes}, ${Math.round(result.elapsedMs)} ms)`
        return { ready: result.ready, detail }
      },
      switchRoutes: async (_fresh, previous, replicas) => {
        const owner = (d: DeploymentRef): SnippetOwnerContext => {
          const rec = records.get(d.id)!
          return { vars: deploymentVars(sctx, svc, rec), cwd: deploymentDir(sctx.roots.deployments, rec.id) }
        }
        const to: SnippetOwnerContext[] = []
        for (const d of replicas) to.push({ ...owner(d), snippets: await rendered.get(d.id) })
        await caddy?.switch(svc, to, previous.map(owner))
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
      stop: async d => {
        await removeDeployment(quiet, svc, records.get(d.id)!)
        known.delete(d.id)
      },
      // Drained and out of Caddy: systemd stops it while the command ends (a failure leaves the
      // unit "failed": `deployment ls` and the next reload show it). Post-stop hooks need the wait.
      retire: async d => {
        const queued = await removeDeployment(quiet, svc, records.get(d.id)!, { noBlock: true })
        known.delete(d.id)
        return queued ? ' (stop queued in systemd, not waited for)' : ' (stopped: post-stop hooks ran after the stop)'
      },
      sleep: async ms => await new Promise(resolve => setTimeout(resolve, ms)),
      now: () => performance.now()
    },
    {
      replicas: pod.replicas ?? 1,
      drainTimeoutMs: (req.drainTimeoutSec ?? pod.drain_timeout_sec ?? DEFAULT_DRAIN_TIMEOUT_SEC) * 1000,
      drainPollMs: 100,
      onStep: step => req.onStep?.(pod.name, step),
      beforeStep: req.beforeStep
    }
  )
  recordHistory(sctx, svc.name, pod.name, config)
  return { part: pod.name, outcome, config }
}

// Deploy history per service part, newest last, so `deployment rollback` can go back.
interface History {
  parts: Record<string, Array<{ config: Record<string, string>; at: string }>>
}

function historyFile(sctx: SystemCtx, service: string): string {
  return path.join(sctx.roots.lib, 'deploys', `${service}.json`)
}

export function readHistory(sctx: SystemCtx, service: string): History {
  try {
    return JSON.parse(readFileSync(historyFile(sctx, service), 'utf8')) as History
  } catch {
    return { parts: {} }
  }
}

function recordHistory(sctx: SystemCtx, service: string, part: string, config: Record<string, string>): void {
  const h = readHistory(sctx, service)
  h.parts[part] = [...(h.parts[part] ?? []), { config, at: new Date().toISOString() }].slice(-20)
  mkdirSync(path.dirname(historyFile(sctx, service)), { recursive: true })
  writeFileSync(historyFile(sctx, service), JSON.stringify(h, null, 2) + '\n')
}

function socketVars(sctx: SystemCtx, svc: Service): Record<string, string> {
  const vars = serviceVariables(svc, baseVariables(sctx.roots, sctx.env))
  return Object.fromEntries(Object.entries(vars).filter(([k]) => k.startsWith('CONDUCTOR_SOCKET_')))
}
