import {
  deregisterSnippets,
  parseSnippets,
  registerSnippets,
  sameJson,
  snippetAtId,
  swapSnippets,
  type CaddyClient,
  type DeregisterResult,
  type RegisterResult,
  type Snippet
} from '../../caddy/index.js'
import type { HostConfig, Roots, Service, Variables } from '../model/index.js'
import { runTemplate } from '../process/index.js'
import { builtinPeersSnippets } from './builtin-snippets.js'
import { snippetInputs } from './inputs.js'
import { diskRecords, sameRecord, type SnippetRecord, type SnippetRecordStore } from './records.js'
import { replicaGroup, routedSnippets, sharedRoutes } from './replicas.js'
import { withRouteLock } from './route-lock.js'

// Registers and removes the Caddy snippets of a service or a deployment (issue 8 item 1): runs
// the proxy_config_template in that context, validates its JSON, and applies it through caddy/.
// What was registered is recorded (records.ts), so deregistration and `caddy status` still work
// when the template's output changes (or the template breaks) later. The reconcile and deploy
// code call these on deployment start and stop; a reload's convergence calls registerOwner.

export interface SnippetContext {
  roots: Pick<Roots, 'run'>
  /** Directory the template runs in: the deployment directory, else the service directory. */
  cwd?: string | undefined
  timeoutSec?: number | undefined
  signal?: AbortSignal | undefined
  /** Where records are read and written; default: the disk, one owner at a time. */
  records?: SnippetRecordStore | undefined
  /** host.json as loaded: one of the template's inputs (inputs.ts). */
  host?: unknown
  /**
   * Asked under the service's route lock, just before Caddy is changed: false leaves Caddy and
   * the records as they are (`caddy sync`: a deployment removed since its snippets were listed).
   */
  stillWanted?: (() => boolean) | undefined
}

export interface RegisterOutcome {
  owner: string
  snippets: Snippet[]
  results: Array<{ id: string; atId?: string | undefined; result: RegisterResult }>
  /** @ids registered earlier by this owner that the template no longer prints: removed. */
  removed: string[]
}

export interface DeregisterOutcome {
  owner: string
  results: Array<{ id: string; atId?: string | undefined; result: DeregisterResult }>
  /** Set when the template failed and the record alone was used. */
  templateError?: string | undefined
}

/** `service@NAME`, `deployment@ID` for a deployment's variables, `function@ID` for a function's. */
export function snippetOwner(service: Pick<Service, 'name'>, vars: Variables): string {
  const deployment = vars.CONDUCTOR_DEPLOYMENT
  if (deployment !== undefined && deployment !== '') return `deployment@${deployment}`
  const fn = vars.CONDUCTOR_FUNCTION_ID
  return fn !== undefined && fn !== '' ? `function@${fn}` : `service@${service.name}`
}

/** Runs the proxy template (if any) in the given context and returns its validated snippets. */
export async function renderProxySnippets(
  service: Service,
  vars: Variables,
  ctx: Omit<SnippetContext, 'roots'> = {}
): Promise<Snippet[]> {
  const file = service.proxy_config_template
  if (file === undefined) return []
  // The built-in peers template computed here (no process per function), given host.json.
  if (ctx.host !== undefined) {
    const builtin = await builtinPeersSnippets(service, vars, ctx.host as HostConfig)
    if (builtin !== undefined) return builtin
  }
  const timeoutSec = ctx.timeoutSec ?? service.template_timeout_sec
  const out = await runTemplate({ file, cwd: ctx.cwd ?? service.dir, vars, timeoutSec, signal: ctx.signal })
  return await parseSnippets(out, file)
}

/** The record an owner's registration leaves (but for its time). */
export function ownerRecord(
  service: Service,
  vars: Variables,
  cwd: string,
  caddyAdmin: string,
  snippets: Snippet[],
  host?: unknown,
  inputs = snippetInputs(service, vars, cwd, host)
): Omit<SnippetRecord, 'updated_at'> {
  return {
    owner: snippetOwner(service, vars),
    service: service.name,
    deployment: vars.CONDUCTOR_DEPLOYMENT || undefined,
    template: service.proxy_config_template,
    caddy_admin: caddyAdmin,
    inputs,
    snippets
  }
}

/** Recorded @ids that `snippets` no longer carry (register_only ones are never removed). */
export function staleSnippets(previous: Snippet[], snippets: Snippet[]): Snippet[] {
  const current = new Set(snippets.map(snippetAtId).filter(id => id !== undefined))
  return previous.filter(s => s.register_only !== true && snippetAtId(s) !== undefined && !current.has(snippetAtId(s)!))
}

export async function registerServiceSnippets(
  service: Service,
  vars: Variables,
  caddy: CaddyClient,
  ctx: SnippetContext
): Promise<RegisterOutcome> {
  const cwd = ctx.cwd ?? service.dir
  // Validate everything before touching Caddy: a bad template changes nothing.
  const snippets = await renderProxySnippets(service, vars, ctx)
  const records = ctx.records ?? diskRecords(ctx.roots)
  const next = ownerRecord(service, vars, cwd, caddy.adminUrl, snippets, ctx.host)
  return await serialized(ctx.roots, next, async () => {
    if (ctx.stillWanted?.() === false) return { owner: next.owner, snippets: [], results: [], removed: [] }
    const stale = staleSnippets(records.get(next.owner)?.snippets ?? [], snippets)
    // Routes shared with other replicas of the part go in with their upstreams too (replicas.ts);
    // an @id this replica stopped printing stays for the replicas that still print it.
    const siblings = replicaSiblings(records, next)
    const shared = siblings.length === 0 ? undefined : sharedRoutes([next, ...siblings], service.proxy_config_template)
    const kept = stale.filter(s => shared?.has(snippetAtId(s)!) === true).map(s => shared!.get(snippetAtId(s)!)!)
    const gone = stale.filter(s => shared?.has(snippetAtId(s)!) !== true)
    const register = shared === undefined ? snippets : snippets.map(s => shared.get(snippetAtId(s) ?? '') ?? s)
    const { results } = await registerOwner(caddy, records, next, [...register, ...kept], gone)
    return {
      owner: next.owner,
      snippets,
      results: snippets.map((s, i) => ({ id: s.id, atId: snippetAtId(s), result: results[i]! })),
      removed: gone.map(s => snippetAtId(s)!)
    }
  })
}

/**
 * The records of the other replicas of the owner's part (replicas.ts), but those of `except`:
 * the deployments whose routes Caddy holds together with the owner's. None for other owners.
 */
export function replicaSiblings(
  records: SnippetRecordStore,
  rec: { owner: string; service: string; deployment?: string | undefined },
  except: ReadonlySet<string> = new Set()
): SnippetRecord[] {
  const group = replicaGroup(rec)
  if (group === undefined || records.all === undefined) return []
  return records.all().filter(r => r.owner !== rec.owner && !except.has(r.owner) && replicaGroup(r) === group)
}

/** A deployment's registration under its service's route lock (route-lock.ts); others as they come. */
async function serialized<T>(
  roots: Pick<Roots, 'run'>,
  rec: { service: string; deployment?: string | undefined },
  fn: () => Promise<T>
): Promise<T> {
  if (rec.deployment === undefined || rec.deployment === '') return await fn()
  return await withRouteLock(roots, rec.service, fn)
}

/**
 * Registers `register` (all of the owner's snippets, or those a reload found missing in Caddy),
 * deletes `stale`, and leaves `next` as the owner's record. The record is written only when it
 * changes: once before Caddy is touched (interimRecord), and a second time only when the owner
 * dropped @ids. Nothing changed: nothing written.
 */
export async function registerOwner(
  caddy: CaddyClient,
  records: SnippetRecordStore,
  next: Omit<SnippetRecord, 'updated_at'>,
  register: Snippet[],
  stale: Snippet[]
): Promise<{ results: RegisterResult[]; removed: DeregisterResult[] }> {
  const before = records.get(next.owner)
  const changed = !sameRecord(before, next)
  const interim = changed ? interimRecord(before, next) : undefined
  if (interim !== undefined) records.put(stamped(interim))
  const results = await registerSnippets(caddy, register)
  const removed = await deregisterSnippets(caddy, stale)
  if (next.snippets.length === 0) {
    if (before !== undefined || interim !== undefined) records.remove(next.owner)
  } else if (changed && !sameRecord(interim ?? before, next)) records.put(stamped(next))
  return { results, removed }
}

/**
 * The record written before Caddy is touched: the union of what was recorded and what comes,
 * so that if Caddy fails half-way a later deregistration still knows every @id that may be
 * there. While that union holds @ids the owner dropped it carries no inputs hash: a crash
 * before the final write makes the next reload run the template again (and remove them)
 * instead of taking the union for the template's output. Undefined: nothing to write first.
 */
function interimRecord(
  before: SnippetRecord | undefined,
  next: Omit<SnippetRecord, 'updated_at'>
): Omit<SnippetRecord, 'updated_at'> | undefined {
  const snippets = union(before?.snippets ?? [], next.snippets)
  const interim = sameJson(snippets, next.snippets) ? next : { ...next, snippets, inputs: undefined }
  return interim.snippets.length === 0 || sameRecord(before, interim) ? undefined : interim
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
 * The route switch of a deploy: registers the snippets of `to` (every new replica of a part)
 * and removes those of every `from` owner in ONE Caddy config change (caddy/swap.ts says why
 * one matters). Records are kept as registerOwner keeps them: the union is recorded for `to`
 * before Caddy is touched, the old owners' records are removed after. Routes the new replicas
 * share go in as one (replicas.ts), with the upstreams of each.
 */
export async function switchServiceSnippets(
  service: Service,
  toOne: SnippetOwnerContext | SnippetOwnerContext[],
  from: SnippetOwnerContext[],
  caddy: CaddyClient,
  ctx: Omit<SnippetContext, 'cwd'>
): Promise<SwitchOutcome> {
  const records = ctx.records ?? diskRecords(ctx.roots)
  const tos = Array.isArray(toOne) ? toOne : [toOne]
  const nexts: Array<Omit<SnippetRecord, 'updated_at'>> = []
  for (const to of tos) {
    const snippets = to.snippets ?? (await renderProxySnippets(service, to.vars, { ...ctx, cwd: to.cwd }))
    nexts.push(ownerRecord(service, to.vars, to.cwd, caddy.adminUrl, snippets, ctx.host))
  }
  const first = nexts[0]!
  const newOwners = new Set(nexts.map(n => n.owner))
  return await serialized(ctx.roots, first, async () => {
    const leaving: Snippet[] = []
    const owners: string[] = []
    for (const f of from) {
      const o = snippetOwner(service, f.vars)
      if (newOwners.has(o)) continue
      owners.push(o)
      // What was registered is recorded (before Caddy was touched, registerOwner): the template
      // runs only for an owner without a record, keeping a process start off the switch.
      const recorded = records.get(o)?.snippets
      leaving.push(...(recorded ?? (await renderProxySnippets(service, f.vars, { ...ctx, cwd: f.cwd }))))
    }
    const befores = nexts.map(n => records.get(n.owner))
    const stale = nexts.flatMap((n, i) => staleSnippets(befores[i]?.snippets ?? [], n.snippets))
    // After the switch the part's routes are those of the new replicas and of any other replica
    // that stays (none in a deploy, which replaces them all).
    const staying = replicaSiblings(records, first, new Set([...owners, ...newOwners]))
    const shared =
      nexts.length === 1 && staying.length === 0
        ? undefined
        : sharedRoutes([...nexts, ...staying], service.proxy_config_template)
    const add = routedSnippets(
      nexts.flatMap(n => n.snippets),
      shared
    )
    const adding = new Set(add.map(snippetAtId))
    for (const s of [...leaving, ...stale]) {
      const id = snippetAtId(s)
      if (id !== undefined && !adding.has(id) && shared?.has(id) === true) {
        adding.add(id)
        add.push(shared.get(id)!)
      }
    }
    const interims = nexts.map((n, i) => (sameRecord(befores[i], n) ? undefined : interimRecord(befores[i], n)))
    for (const interim of interims) if (interim !== undefined) records.put(stamped(interim))
    const outcome = await swapSnippets(caddy, add, [...leaving, ...stale])
    nexts.forEach((next, i) => {
      if (next.snippets.length === 0) records.remove(next.owner)
      else if (!sameRecord(befores[i], next) && !sameRecord(interims[i] ?? befores[i], next)) records.put(stamped(next))
    })
    for (const o of owners) records.remove(o)
    return { owner: first.owner, snippets: first.snippets, replaced: owners, changes: outcome.changes }
  })
}

/**
 * Removes the owner's snippets (all but register_only): those recorded at registration plus
 * those the template prints now. A failing template is tolerated when a record exists.
 */
export async function deregisterServiceSnippets(
  service: Service,
  vars: Variables,
  caddy: CaddyClient,
  ctx: SnippetContext
): Promise<DeregisterOutcome> {
  const owner = snippetOwner(service, vars)
  const records = ctx.records ?? diskRecords(ctx.roots)
  const recorded = records.get(owner)?.snippets
  let rendered: Snippet[] = []
  let templateError: string | undefined
  try {
    rendered = await renderProxySnippets(service, vars, ctx)
  } catch (err) {
    if (recorded === undefined) throw err
    templateError = (err as Error).message
  }
  const all = union(recorded ?? [], rendered)
  const rec = { owner, service: service.name, deployment: vars.CONDUCTOR_DEPLOYMENT || undefined }
  return await serialized(ctx.roots, rec, async () => {
    // A route other replicas of the part share stays, with their upstreams only (replicas.ts).
    const siblings = replicaSiblings(records, rec)
    const shared = siblings.length === 0 ? undefined : sharedRoutes(siblings, service.proxy_config_template)
    const kept = all.filter(s => shared?.has(snippetAtId(s) ?? '') === true)
    const gone = all.filter(s => !kept.includes(s))
    await registerSnippets(
      caddy,
      kept.map(s => shared!.get(snippetAtId(s)!)!)
    )
    const removed = await deregisterSnippets(caddy, gone)
    records.remove(owner)
    const result = (s: Snippet): DeregisterResult => (kept.includes(s) ? 'kept' : removed[gone.indexOf(s)]!)
    return { owner, results: all.map(s => ({ id: s.id, atId: snippetAtId(s), result: result(s) })), templateError }
  })
}

function stamped(r: Omit<SnippetRecord, 'updated_at'>): SnippetRecord {
  return { ...r, updated_at: new Date().toISOString() }
}

/** Snippets of `a` then those of `b`, one per @id (b's version wins); id-less ones kept once. */
function union(a: Snippet[], b: Snippet[]): Snippet[] {
  const out: Snippet[] = []
  const index = new Map<string, number>()
  for (const s of [...a, ...b]) {
    const key = snippetAtId(s) ?? `${s.id} ${JSON.stringify(s.config)}`
    const at = index.get(key)
    if (at === undefined) {
      index.set(key, out.length)
      out.push(s)
    } else out[at] = s
  }
  return out
}
