import { deregisterSnippets } from '../../caddy/index.js'
import { DeploymentFailed } from '../../errors/index.js'
import { ctxService } from '../context.js'
import { waitDeploymentReady } from '../deploy/index.js'
import type { Service } from '../model/index.js'
import { baseVariables, serviceVariables } from '../model/index.js'
import { runHooks } from '../process/index.js'
import { readSnippetRecord, removeSnippetRecord } from '../proxy/index.js'
import { deploymentVars, type SystemCtx } from '../reconcile/index.js'
import { deploymentDir, readDeployment, writeDeployment } from '../state/index.js'

// What the config units run when systemd starts or stops a service or deployment on its own
// (host/config-units.ts; Conductor's own commands do this work themselves and leave a receipt).
// attach: (deployment) wait until it is ready, post-start hooks, Caddy snippets registered.
// detach: pre-stop hooks, snippets removed, post-stop hooks. systemd stops the config unit
// before its main unit (After=), so post-stop hooks run before the pod is gone, and after a
// crash every stop hook runs once the pod is already gone. A stop cannot be refused, so detach
// goes on past a failure and reports them all at the end (the CLI then exits non-zero).

export interface Outcome {
  /** What was done, one line each (the unit's log). */
  lines: string[]
  /** detach: the first step that failed (the others went on; later failures are in `lines`). */
  error?: unknown
}

export async function attachDeployment(sctx: SystemCtx, id: string): Promise<Outcome> {
  const rec = readDeployment(sctx.roots.deployments, id)
  if (rec === undefined) return { lines: [`deployment ${id}: no record, nothing to attach`] }
  const svc = await ctxService(sctx, rec.service)
  const pod = svc.pods.find(p => p.name === rec.part)
  if (pod === undefined) {
    const why = `service "${svc.name}" has no pod part "${rec.part}"`
    throw new DeploymentFailed(`deployment ${id}: ${why}`, svc.file, '/pods')
  }
  // A restarted pod has a new address: record it before templates and hooks see POD_IP_ADDRESS.
  const podIp = await sctx.drivers.podman.podIp(id).catch(() => '')
  const current = { ...rec, pod_ip: podIp }
  if (podIp !== rec.pod_ip) writeDeployment(sctx.roots.deployments, current)
  // Routes only to a ready deployment, as a deploy does.
  const ready = await waitDeploymentReady(sctx, svc, pod, current)
  if (!ready.ready) {
    const why = `Last readiness check: ${ready.detail}`
    throw new DeploymentFailed(`deployment ${id} did not become ready; its routes are not registered. ${why}`)
  }
  const dir = deploymentDir(sctx.roots.deployments, id)
  const vars = deploymentVars(sctx, svc, current)
  const lines = [`deployment ${id}: ready (${ready.detail})`]
  const hooks = await runHooks(svc, 'post-start', vars, dir, rec.part)
  if (hooks.length > 0) lines.push(`deployment ${id}: post-start hooks ${hooks.join(', ')}`)
  if (sctx.drivers.caddy !== undefined && svc.proxy_config_template !== undefined) {
    await sctx.drivers.caddy.register(svc, vars, dir)
    lines.push(`deployment ${id}: routes registered`)
  }
  return { lines }
}

export async function detachDeployment(sctx: SystemCtx, id: string): Promise<Outcome> {
  const owner = `deployment@${id}`
  const rec = readDeployment(sctx.roots.deployments, id)
  const out = new Detach()
  const svc = rec === undefined ? undefined : await out.attempt(async () => await ctxService(sctx, rec.service))
  if (rec === undefined || svc === undefined || !svc.pods.some(p => p.name === rec.part)) {
    await out.attempt(async () => {
      await deregisterRecorded(sctx, owner, out)
    })
    return out.finish()
  }
  const dir = deploymentDir(sctx.roots.deployments, id)
  const vars = deploymentVars(sctx, svc, rec)
  const hooks = async (when: 'pre-stop' | 'post-stop'): Promise<void> => {
    await out.attempt(async () => {
      out.hooks(owner, when, await runHooks(svc, when, vars, dir, rec.part))
    })
  }
  await hooks('pre-stop')
  await out.attempt(async () => {
    if (sctx.drivers.caddy === undefined || svc.proxy_config_template === undefined) return
    await sctx.drivers.caddy.deregister(svc, vars, dir)
    out.lines.push(`${owner}: routes removed`)
  })
  await hooks('post-stop')
  return out.finish()
}

export async function attachService(sctx: SystemCtx, name: string): Promise<Outcome> {
  const svc = await ctxService(sctx, name)
  const vars = serviceVariables(svc, baseVariables(sctx.roots, sctx.env))
  const lines: string[] = []
  const hooks = await runHooks(svc, 'post-start-service', vars, svc.dir)
  if (hooks.length > 0) lines.push(`service ${name}: post-start-service hooks ${hooks.join(', ')}`)
  // A disabled service has no routes (a reload removes them); its hooks still ran with its unit.
  if (!svc.disable && sctx.drivers.caddy !== undefined && svc.proxy_config_template !== undefined) {
    await sctx.drivers.caddy.register(svc, vars, svc.dir)
    lines.push(`service ${name}: routes registered`)
  }
  return { lines }
}

export async function detachService(sctx: SystemCtx, name: string): Promise<Outcome> {
  const owner = `service@${name}`
  const out = new Detach()
  const svc: Service | undefined = await out.attempt(async () => await ctxService(sctx, name))
  if (svc === undefined) {
    await out.attempt(async () => {
      await deregisterRecorded(sctx, owner, out)
    })
    return out.finish()
  }
  const vars = serviceVariables(svc, baseVariables(sctx.roots, sctx.env))
  const hooks = async (when: 'pre-stop-service' | 'post-stop-service'): Promise<void> => {
    await out.attempt(async () => {
      out.hooks(owner, when, await runHooks(svc, when, vars, svc.dir))
    })
  }
  await hooks('pre-stop-service')
  await out.attempt(async () => {
    if (sctx.drivers.caddy === undefined || svc.proxy_config_template === undefined) return
    await sctx.drivers.caddy.deregister(svc, vars, svc.dir)
    out.lines.push(`${owner}: routes removed`)
  })
  await hooks('post-stop-service')
  return out.finish()
}

/** Without a service definition: what the owner's record says it registered leaves Caddy. */
async function deregisterRecorded(sctx: SystemCtx, owner: string, out: Detach): Promise<void> {
  const rec = readSnippetRecord(sctx.roots, owner)
  if (rec === undefined || sctx.drivers.caddy === undefined) return
  await deregisterSnippets(sctx.drivers.caddy.client(), rec.snippets)
  removeSnippetRecord(sctx.roots, owner)
  out.lines.push(`${owner}: recorded routes removed`)
}

/** Every step of a stop is tried; the first failure is returned, the others listed. */
class Detach {
  lines: string[] = []
  errors: unknown[] = []
  async attempt<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn()
    } catch (err) {
      this.errors.push(err)
      return undefined
    }
  }

  hooks(owner: string, when: string, ran: string[]): void {
    if (ran.length > 0) this.lines.push(`${owner}: ${when} hooks ${ran.join(', ')}`)
  }

  finish(): Outcome {
    if (this.errors.length === 0) return { lines: this.lines }
    const [first, ...rest] = this.errors
    for (const e of rest) this.lines.push(`also failed: ${e instanceof Error ? e.message : String(e)}`)
    return { lines: this.lines, error: first }
  }
}
