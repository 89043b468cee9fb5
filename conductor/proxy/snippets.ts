import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import {
  deregisterSnippets, isSnippetList, parseSnippets, registerSnippets, snippetAtId, swapSnippets,
  type CaddyClient, type DeregisterResult, type RegisterResult, type Snippet
} from '../../caddy/index.js'
import type { Roots } from '../model/index.js'
import type { Service } from '../model/index.js'
import { runTemplate } from '../process/index.js'
import type { Variables } from '../model/index.js'

// Registers and removes the Caddy snippets of a service or a deployment (issue 8 item 1): runs
// the proxy_config_template in that context, validates its JSON, and applies it through caddy/.
// What was registered is recorded in <roots.run>/caddy/<owner>.json, so deregistration and
// `caddy status` still work when the template's output changes (or the template breaks) later.
// The reconcile and deploy code call these on deployment start and stop.

export interface SnippetContext {
  roots: Pick<Roots, 'run'>
  /** Directory the template runs in: the deployment directory, else the service directory. */
  cwd?: string | undefined
  timeoutSec?: number | undefined
  signal?: AbortSignal | undefined
}

export interface SnippetRecord {
  owner: string
  service: string
  deployment?: string | undefined
  template?: string | undefined
  /** Caddy admin endpoint they were registered with. */
  caddy_admin: string
  updated_at: string
  snippets: Snippet[]
}

export interface RegisterOutcome {
  owner: string
  snippets: Snippet[]
  results: Array<{ id: string, atId?: string | undefined, result: RegisterResult }>
  /** @ids registered earlier by this owner that the template no longer prints: removed. */
  removed: string[]
}

export interface DeregisterOutcome {
  owner: string
  results: Array<{ id: string, atId?: string | undefined, result: DeregisterResult }>
  /** Set when the template failed and the record alone was used. */
  templateError?: string | undefined
}

/** `service@NAME`, `deployment@ID` for a deployment's variables, `function@ID` for a function's. */
export function snippetOwner (service: Pick<Service, 'name'>, vars: Variables): string {
  const deployment = vars.CONDUCTOR_DEPLOYMENT
  if (deployment !== undefined && deployment !== '') return `deployment@${deployment}`
  const fn = vars.CONDUCTOR_FUNCTION_ID
  return fn !== undefined && fn !== '' ? `function@${fn}` : `service@${service.name}`
}

/** Runs the proxy template (if any) in the given context and returns its validated snippets. */
export async function renderProxySnippets (service: Service, vars: Variables, ctx: Omit<SnippetContext, 'roots'> = {}): Promise<Snippet[]> {
  const file = service.proxy_config_template
  if (file === undefined) return []
  const out = await runTemplate({ file, cwd: ctx.cwd ?? service.dir, vars, timeoutSec: ctx.timeoutSec ?? service.template_timeout_sec, signal: ctx.signal })
  return await parseSnippets(out, file)
}

export async function registerServiceSnippets (service: Service, vars: Variables, caddy: CaddyClient, ctx: SnippetContext): Promise<RegisterOutcome> {
  const owner = snippetOwner(service, vars)
  // Validate everything before touching Caddy: a bad template changes nothing.
  const snippets = await renderProxySnippets(service, vars, ctx)
  const previous = readSnippetRecord(ctx.roots, owner)?.snippets ?? []
  const base = { owner, service: service.name, deployment: vars.CONDUCTOR_DEPLOYMENT || undefined, template: service.proxy_config_template, caddy_admin: caddy.adminUrl }
  // Record the union first: if Caddy fails half-way, a later deregistration still knows
  // every @id that may be there.
  if (snippets.length > 0 || previous.length > 0) writeSnippetRecord(ctx.roots, { ...base, updated_at: new Date().toISOString(), snippets: union(previous, snippets) })
  const results = await registerSnippets(caddy, snippets)
  const current = new Set(snippets.map(snippetAtId).filter(id => id !== undefined))
  const stale = previous.filter(s => s.register_only !== true && snippetAtId(s) !== undefined && !current.has(snippetAtId(s)!))
  await deregisterSnippets(caddy, stale)
  if (snippets.length > 0) writeSnippetRecord(ctx.roots, { ...base, updated_at: new Date().toISOString(), snippets })
  else removeSnippetRecord(ctx.roots, owner)
  return {
    owner,
    snippets,
    results: snippets.map((s, i) => ({ id: s.id, atId: snippetAtId(s), result: results[i]! })),
    removed: stale.map(s => snippetAtId(s)!)
  }
}

export interface SnippetOwnerContext {
  vars: Variables
  cwd: string
  /** The template's output when already rendered (a deploy renders it while readiness is probed). */
  snippets?: Snippet[] | undefined
}

export interface SwitchOutcome {
  owner: string
  snippets: Snippet[]
  /** Owners whose snippets left Caddy (their records are removed). */
  replaced: string[]
  /** Caddy config changes made: 1 for a switch (0 when nothing changed). */
  changes: number
}

/**
 * The route switch of a deploy: registers the snippets of `to` and removes those of every
 * `from` owner in ONE Caddy config change (caddy/swap.ts says why one matters). Records are
 * kept as registerServiceSnippets / deregisterServiceSnippets keep them: the union is recorded
 * for `to` before Caddy is touched, the old owners' records are removed after.
 */
export async function switchServiceSnippets (service: Service, to: SnippetOwnerContext, from: SnippetOwnerContext[], caddy: CaddyClient, ctx: Omit<SnippetContext, 'cwd'>): Promise<SwitchOutcome> {
  const owner = snippetOwner(service, to.vars)
  const snippets = to.snippets ?? await renderProxySnippets(service, to.vars, { ...ctx, cwd: to.cwd })
  const leaving: Snippet[] = []
  const owners: string[] = []
  for (const f of from) {
    const o = snippetOwner(service, f.vars)
    if (o === owner) continue
    owners.push(o)
    // What was registered is recorded (before Caddy was touched, registerServiceSnippets): the
    // template runs only for an owner without a record, keeping a process start off the switch.
    const recorded = readSnippetRecord(ctx.roots, o)?.snippets
    leaving.push(...(recorded ?? await renderProxySnippets(service, f.vars, { ...ctx, cwd: f.cwd })))
  }
  const previous = readSnippetRecord(ctx.roots, owner)?.snippets ?? []
  const current = new Set(snippets.map(snippetAtId).filter(id => id !== undefined))
  const stale = previous.filter(s => s.register_only !== true && snippetAtId(s) !== undefined && !current.has(snippetAtId(s)!))
  const base = { owner, service: service.name, deployment: to.vars.CONDUCTOR_DEPLOYMENT || undefined, template: service.proxy_config_template, caddy_admin: caddy.adminUrl }
  if (snippets.length > 0 || previous.length > 0) writeSnippetRecord(ctx.roots, { ...base, updated_at: new Date().toISOString(), snippets: union(previous, snippets) })
  const outcome = await swapSnippets(caddy, snippets, [...leaving, ...stale])
  if (snippets.length > 0) writeSnippetRecord(ctx.roots, { ...base, updated_at: new Date().toISOString(), snippets })
  else removeSnippetRecord(ctx.roots, owner)
  for (const o of owners) removeSnippetRecord(ctx.roots, o)
  return { owner, snippets, replaced: owners, changes: outcome.changes }
}

/**
 * Removes the owner's snippets (all but register_only): those recorded at registration plus
 * those the template prints now. A failing template is tolerated when a record exists.
 */
export async function deregisterServiceSnippets (service: Service, vars: Variables, caddy: CaddyClient, ctx: SnippetContext): Promise<DeregisterOutcome> {
  const owner = snippetOwner(service, vars)
  const recorded = readSnippetRecord(ctx.roots, owner)?.snippets
  let rendered: Snippet[] = []
  let templateError: string | undefined
  try {
    rendered = await renderProxySnippets(service, vars, ctx)
  } catch (err) {
    if (recorded === undefined) throw err
    templateError = (err as Error).message
  }
  const all = union(recorded ?? [], rendered)
  const results = await deregisterSnippets(caddy, all)
  removeSnippetRecord(ctx.roots, owner)
  return { owner, results: all.map((s, i) => ({ id: s.id, atId: snippetAtId(s), result: results[i]! })), templateError }
}

export function snippetRecordFile (roots: Pick<Roots, 'run'>, owner: string): string {
  return path.join(roots.run, 'caddy', `${owner}.json`)
}

export function readSnippetRecord (roots: Pick<Roots, 'run'>, owner: string): SnippetRecord | undefined {
  const file = snippetRecordFile(roots, owner)
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    // A corrupt record (a crash mid-write cannot produce one: writes are atomic) is ignored.
    return undefined
  }
  const rec = raw as SnippetRecord
  return isSnippetList(rec?.snippets) ? rec : undefined
}

export function listSnippetRecords (roots: Pick<Roots, 'run'>): SnippetRecord[] {
  let names: string[]
  try {
    names = readdirSync(path.join(roots.run, 'caddy')).filter(n => n.endsWith('.json')).sort()
  } catch {
    return []
  }
  return names.map(n => readSnippetRecord(roots, n.slice(0, -5))).filter((r): r is SnippetRecord => r !== undefined)
}

function writeSnippetRecord (roots: Pick<Roots, 'run'>, record: SnippetRecord): void {
  const file = snippetRecordFile(roots, record.owner)
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
  // Snippets may carry credentials (basic_auth hashes, upstream headers): owner-only file.
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(record, null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, file)
}

export function removeSnippetRecord (roots: Pick<Roots, 'run'>, owner: string): void {
  rmSync(snippetRecordFile(roots, owner), { force: true })
}

/** Snippets of `a` then those of `b`, one per @id (b's version wins); id-less ones kept once. */
function union (a: Snippet[], b: Snippet[]): Snippet[] {
  const out: Snippet[] = []
  const index = new Map<string, number>()
  for (const s of [...a, ...b]) {
    const key = snippetAtId(s) ?? `${s.id} ${JSON.stringify(s.config)}`
    const at = index.get(key)
    if (at === undefined) { index.set(key, out.length); out.push(s) } else out[at] = s
  }
  return out
}
