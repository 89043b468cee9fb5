import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { isSnippetList, registerSnippets, snippetAtId, snippetState, type CaddyClient, type Snippet, type SnippetState } from '../../caddy/index.js'
import type { Ctx } from '../context.js'
import { listDeploymentRecords } from '../state/index.js'
import { listSnippetRecords, registerServiceSnippets, renderProxySnippets, snippetOwner } from './snippets.js'
import { portVariables } from '../host/index.js'
import type { Roots } from '../model/index.js'
import { loadAllServices, type Service, type ServiceEntry } from '../model/index.js'
import { baseVariables, deploymentVariables, functionVariables, serviceVariables, type Variables } from '../model/index.js'
import { functionId } from '../model/index.js'

// What should be in Caddy (issue 8 item 2): the snippets of every enabled, valid service (in
// the service context), of every recorded deployment (in its context), and the routes added by
// `conductor caddy protect`. `caddy status` compares that with Caddy; `caddy sync`
// re-registers it, e.g. after Caddy restarted without --resume and lost API-made changes.

export interface SnippetSource {
  owner: string
  service: Service
  vars: Variables
  cwd: string
}

export interface Desired {
  sources: SnippetSource[]
  /** Routes of `caddy protect`, persisted under <roots.lib>/caddy/protected/. */
  protected: Snippet[]
  /** Services or deployment records that could not be used (listed, never fatal). */
  problems: Array<{ owner: string, message: string }>
}

/** `entries`: the services already loaded by the caller (reload), else read from disk. */
export async function desiredSnippetSources (ctx: Pick<Ctx, 'roots' | 'env'>, entries?: ServiceEntry[]): Promise<Desired> {
  const base = baseVariables(ctx.roots, ctx.env)
  const sources: SnippetSource[] = []
  const problems: Desired['problems'] = []
  const services = new Map<string, Service>()
  for (const e of entries ?? await loadAllServices(ctx.roots.services)) {
    if (e.service === undefined) { problems.push({ owner: `service@${e.name}`, message: e.error?.message ?? 'invalid' }); continue }
    if (e.service.disable) continue
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
  const { records, problems: recordProblems } = listDeploymentRecords(ctx.roots)
  for (const p of recordProblems) problems.push({ owner: p.file, message: p.message })
  for (const r of records) {
    const svc = services.get(r.service)
    if (svc === undefined) { problems.push({ owner: `deployment@${r.id}`, message: `service "${r.service}" is not an enabled, valid service` }); continue }
    if (svc.proxy_config_template === undefined) continue
    const pod = svc.pods.find(p => p.name === r.part)
    if (pod === undefined) { problems.push({ owner: `deployment@${r.id}`, message: `service "${r.service}" has no pod part "${r.part}"` }); continue }
    const vars = deploymentVariables(svc, pod, { id: r.id, podIp: r.podIp, config: r.config, extra: portVariables(pod.ports ?? [], r.ports) }, base)
    sources.push({ owner: snippetOwner(svc, vars), service: svc, vars, cwd: r.dir })
  }
  return { sources, protected: listProtectedRoutes(ctx.roots), problems }
}

export interface OwnerStatus {
  owner: string
  error?: string | undefined
  /** `stale`: registered by an owner that should have no snippet now. */
  snippets: Array<{ id: string, at_id?: string | undefined, register_only: boolean, state: SnippetState | 'stale' }>
}

export async function snippetStatus (ctx: Pick<Ctx, 'roots' | 'env' | 'templateTimeoutSec'>, caddy: CaddyClient): Promise<OwnerStatus[]> {
  const desired = await desiredSnippetSources(ctx)
  const out: OwnerStatus[] = desired.problems.map(p => ({ owner: p.owner, error: p.message, snippets: [] }))
  const check = async (owner: string, snippets: Snippet[]): Promise<void> => {
    const rows: OwnerStatus['snippets'] = []
    for (const s of snippets) rows.push({ id: s.id, at_id: snippetAtId(s), register_only: s.register_only === true, state: await snippetState(caddy, s) })
    out.push({ owner, snippets: rows })
  }
  for (const src of desired.sources) {
    let snippets: Snippet[]
    try {
      snippets = await renderProxySnippets(src.service, src.vars, { cwd: src.cwd, timeoutSec: ctx.templateTimeoutSec })
    } catch (err) {
      out.push({ owner: src.owner, error: (err as Error).message, snippets: [] })
      continue
    }
    await check(src.owner, snippets)
  }
  if (desired.protected.length > 0) await check('protected', desired.protected)
  // Owners that registered snippets but should not have any now (a disabled service, a
  // deployment without state): what they left in Caddy is reported as `stale`. Not removed
  // here: that is the reconciler's decision (deregisterServiceSnippets).
  const wanted = new Set(desired.sources.map(s => s.owner))
  for (const rec of listSnippetRecords(ctx.roots)) {
    if (wanted.has(rec.owner)) continue
    const rows: OwnerStatus['snippets'] = []
    for (const s of rec.snippets) {
      if (s.register_only === true) continue
      const state = await snippetState(caddy, s)
      if (state !== 'missing') rows.push({ id: s.id, at_id: snippetAtId(s), register_only: false, state: 'stale' })
    }
    if (rows.length > 0) out.push({ owner: rec.owner, snippets: rows })
  }
  return out
}

export interface OwnerSync {
  owner: string
  error?: string | undefined
  results: Array<{ id: string, at_id?: string | undefined, result: string }>
}

export async function syncSnippets (ctx: Pick<Ctx, 'roots' | 'env' | 'templateTimeoutSec'>, caddy: CaddyClient, isFatal: (err: unknown) => boolean, given?: Desired): Promise<OwnerSync[]> {
  const desired = given ?? await desiredSnippetSources(ctx)
  const out: OwnerSync[] = desired.problems.map(p => ({ owner: p.owner, error: p.message, results: [] }))
  for (const src of desired.sources) {
    try {
      const r = await registerServiceSnippets(src.service, src.vars, caddy, { roots: ctx.roots, cwd: src.cwd, timeoutSec: ctx.templateTimeoutSec })
      out.push({ owner: src.owner, results: [...r.results.map(x => ({ id: x.id, at_id: x.atId, result: x.result })), ...r.removed.map(id => ({ id: '', at_id: id, result: 'removed' }))] })
    } catch (err) {
      // Caddy down: every other owner would fail the same way; stop at once.
      if (isFatal(err)) throw err
      out.push({ owner: src.owner, error: (err as Error).message, results: [] })
    }
  }
  if (desired.protected.length > 0) {
    const results = await registerSnippets(caddy, desired.protected)
    out.push({ owner: 'protected', results: desired.protected.map((s, i) => ({ id: s.id, at_id: snippetAtId(s), result: results[i]! })) })
  }
  return out
}

// Routes of `conductor caddy protect` are operator state, not derived from services: they
// live in <roots.lib> (survives reboots) so `caddy sync` can bring them back.

export function protectedRouteFile (roots: Pick<Roots, 'lib'>, atId: string): string {
  return path.join(roots.lib, 'caddy', 'protected', `${atId}.json`)
}

export function saveProtectedRoute (roots: Pick<Roots, 'lib'>, snippet: Snippet): void {
  const file = protectedRouteFile(roots, snippetAtId(snippet)!)
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(snippet, null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, file)
}

export function removeProtectedRoute (roots: Pick<Roots, 'lib'>, atId: string): boolean {
  const file = protectedRouteFile(roots, atId)
  try { readFileSync(file) } catch { return false }
  rmSync(file, { force: true })
  return true
}

export function listProtectedRoutes (roots: Pick<Roots, 'lib'>): Snippet[] {
  const dir = path.join(roots.lib, 'caddy', 'protected')
  let names: string[]
  try { names = readdirSync(dir).filter(n => n.endsWith('.json')).sort() } catch { return [] }
  const out: Snippet[] = []
  for (const n of names) {
    try {
      const parsed: unknown = [JSON.parse(readFileSync(path.join(dir, n), 'utf8'))]
      if (isSnippetList(parsed)) out.push(parsed[0]!)
    } catch { /* a broken file is skipped; `caddy status` will show the route missing */ }
  }
  return out
}
