import path from 'node:path'
import type { Snippet } from '../../caddy/index.js'
import type { Ctx } from '../context.js'
import { portVariables } from '../host/index.js'
import {
  baseVariables,
  deploymentVariables,
  functionId,
  functionVariables,
  loadAllServices,
  serviceVariables,
  type Service,
  type ServiceEntry,
  type Variables
} from '../model/index.js'
import { placedElsewhere, readDeployments, readPlacement, type StoredDeployments } from '../state/index.js'
import { snippetInputs } from './inputs.js'
import { listProtectedRoutes } from './protected.js'
import type { SnippetRecord } from './records.js'
import { ownerRecord, renderProxySnippets, snippetOwner } from './snippets.js'

// What should be in Caddy (issue 8 item 2): the snippets of every enabled, valid service (in
// the service context, and once per function with CONDUCTOR_FUNCTION_ID set), of every
// recorded running deployment (in its context), and the routes added by `conductor caddy
// protect`. Built from what the caller already read (reload: its services and its Observed),
// each context's variables computed here once. A synced service placed on other hosts only
// (the fleet's placement file, state/placement.ts) counts as disabled here: no routes.

export interface SnippetSource {
  owner: string
  service: Service
  vars: Variables
  cwd: string
}

export interface DesiredSnippets {
  sources: SnippetSource[]
  /** Routes of `caddy protect`, persisted under <roots.lib>/caddy/protected/. */
  protected: Snippet[]
  /** Services or deployment records that could not be used (listed, never fatal). */
  problems: Array<{ owner: string; message: string }>
}

export function snippetSources(
  ctx: Pick<Ctx, 'roots' | 'env'>,
  entries: readonly ServiceEntry[],
  deployments: StoredDeployments,
  disabledHere: { has: (name: string) => boolean } = new Set<string>()
): DesiredSnippets {
  const base = baseVariables(ctx.roots, ctx.env)
  const sources: SnippetSource[] = []
  const problems: DesiredSnippets['problems'] = []
  const services = new Map<string, Service>()
  for (const e of entries) {
    if (e.service === undefined) {
      problems.push({ owner: `service@${e.name}`, message: e.error?.message ?? 'invalid' })
      continue
    }
    if (e.service.disable || disabledHere.has(e.name)) continue
    services.set(e.name, e.service)
    if (e.service.proxy_config_template === undefined) continue
    const vars = serviceVariables(e.service, base)
    sources.push({ owner: snippetOwner(e.service, vars), service: e.service, vars, cwd: e.service.dir })
    // Seed: "the proxy config template should be called for the CGI functions too", with
    // CONDUCTOR_FUNCTION_ID set (the template then typically runs `conductor function caddy-config`).
    for (const fn of e.service.functions) {
      const fvars = functionVariables(vars, functionId(e.name, fn.name))
      sources.push({ owner: snippetOwner(e.service, fvars), service: e.service, vars: fvars, cwd: e.service.dir })
    }
  }
  for (const s of deployments.strays) {
    const owner = path.join(ctx.roots.deployments, s, 'state.json')
    problems.push({ owner, message: 'no readable state.json (an interrupted creation: the next reload removes it)' })
  }
  // A deployment the operator stopped must not have routes.
  for (const r of deployments.records.filter(r => r.desired === 'running')) {
    const owner = `deployment@${r.id}`
    const svc = services.get(r.service)
    if (svc === undefined) {
      problems.push({ owner, message: `service "${r.service}" is not an enabled, valid service` })
      continue
    }
    if (svc.proxy_config_template === undefined) continue
    const pod = svc.pods.find(p => p.name === r.part)
    if (pod === undefined) {
      problems.push({ owner, message: `service "${r.service}" has no pod part "${r.part}"` })
      continue
    }
    const extra = portVariables(pod.ports ?? [], r.ports)
    const vars = deploymentVariables(svc, pod, { id: r.id, podIp: r.pod_ip, config: r.config, extra }, base)
    sources.push({ owner: snippetOwner(svc, vars), service: svc, vars, cwd: path.join(ctx.roots.deployments, r.id) })
  }
  return { sources, protected: listProtectedRoutes(ctx.roots), problems }
}

/** `caddy status` and `caddy sync`: the services and deployment records read here. */
export async function desiredSnippetSources(ctx: Pick<Ctx, 'roots' | 'env'>): Promise<DesiredSnippets> {
  return snippetSources(
    ctx,
    await loadAllServices(ctx.roots.services),
    readDeployments(ctx.roots.deployments),
    placedElsewhere(readPlacement(ctx.roots.lib))
  )
}

/** A source's snippets as its record would hold them, and whether the template ran. */
export interface OwnerSnippets {
  record: Omit<SnippetRecord, 'updated_at'>
  /** True: the inputs are those recorded, the recorded snippets are used (no template run). */
  reused: boolean
}

/**
 * The snippets of one source: the recorded ones when the template's inputs (inputs.ts) are
 * those it last ran with, else the template's output. Throws what the template does.
 */
export async function ownerSnippets(
  src: SnippetSource,
  recorded: SnippetRecord | undefined,
  opts: { caddyAdmin: string; host?: unknown; timeoutSec?: number | undefined }
): Promise<OwnerSnippets> {
  const inputs = snippetInputs(src.service, src.vars, src.cwd, opts.host)
  const reused = recorded !== undefined && recorded.inputs === inputs
  const snippets = reused
    ? recorded.snippets
    : await renderProxySnippets(src.service, src.vars, { cwd: src.cwd, timeoutSec: opts.timeoutSec, host: opts.host })
  return { record: ownerRecord(src.service, src.vars, src.cwd, opts.caddyAdmin, snippets, opts.host, inputs), reused }
}
