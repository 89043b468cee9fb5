import { SnippetInvalid, sameJson, snippetAtId, type Snippet } from '../../caddy/index.js'
import { partOfDeployment } from '../model/index.js'

// Replicas behind one route (pods[].replicas). Each replica's proxy template runs in its own
// context, as for any deployment, and prints its route to its own port; what Caddy holds at an
// @id the replicas of one part share is ONE route whose reverse_proxy lists the upstreams of
// every replica that has registered it. So the template needs no list of replicas (it knows
// only its own ports and POD_IP_ADDRESS), and each replica's record keeps only what it printed:
// one replica leaving (its stop, a crash seen by its config unit) takes only its upstreams out.
// Pure: the callers read the records and talk to Caddy.

export interface RouteHolder {
  owner: string
  /** What its template printed (its record's snippets). */
  snippets: Snippet[]
}

/** The replica group of a snippet owner: `SERVICE/PART` for a deployment, undefined otherwise. */
export function replicaGroup(rec: { service: string; deployment?: string | undefined }): string | undefined {
  if (rec.deployment === undefined || rec.deployment === '') return undefined
  return `${rec.service}/${partOfDeployment(rec.service, rec.deployment)}`
}

/**
 * What Caddy should hold at each @id the holders (replicas of one part) print: the snippet
 * itself when one holder prints it, else one snippet whose `upstreams` lists are those of every
 * holder, in the order of the owners (deployment ids sort by creation), each upstream once.
 * Holders printing an @id differently in anything but upstreams are refused (SnippetInvalid
 * naming the template, the snippet and the JSON path): Caddy can hold only one of them.
 */
export function sharedRoutes(holders: readonly RouteHolder[], template?: string): Map<string, Snippet> {
  const byId = new Map<string, Array<{ owner: string; index: number; snippet: Snippet }>>()
  const sorted = [...holders].sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0))
  for (const h of sorted)
    h.snippets.forEach((snippet, index) => {
      const id = snippetAtId(snippet)
      if (id === undefined) return
      const list = byId.get(id)
      if (list === undefined) byId.set(id, [{ owner: h.owner, index, snippet }])
      else list.push({ owner: h.owner, index, snippet })
    })
  const out = new Map<string, Snippet>()
  for (const [id, list] of byId) {
    const first = list[0]!
    if (list.length === 1) {
      out.set(id, first.snippet)
      continue
    }
    for (const other of list.slice(1)) {
      if (other.snippet.id !== first.snippet.id || other.snippet.register_only !== first.snippet.register_only)
        throw differ(template, `/${other.index}/id`, first.owner, other.owner)
    }
    const config = mergeUpstreams(
      list.map(h => h.snippet.config),
      '',
      undefined,
      at =>
        differ(
          template,
          `/${first.index}/config${at}`,
          first.owner,
          list
            .slice(1)
            .map(h => h.owner)
            .join(', ')
        )
    )
    out.set(id, { ...first.snippet, config: config as Snippet['config'] })
  }
  return out
}

/** The snippets to send to Caddy for `own`: each one shared with other replicas as `shared` holds it. */
export function routedSnippets(own: readonly Snippet[], shared: ReadonlyMap<string, Snippet> | undefined): Snippet[] {
  if (shared === undefined) return [...own]
  const out: Snippet[] = []
  const seen = new Set<string>()
  for (const s of own) {
    const id = snippetAtId(s)
    if (id === undefined) out.push(s)
    else if (!seen.has(id)) {
      seen.add(id)
      out.push(shared.get(id) ?? s)
    }
  }
  return out
}

function differ(template: string | undefined, jsonPath: string, a: string, b: string): SnippetInvalid {
  return new SnippetInvalid(
    `the replicas of one part print this snippet differently (${a} and ${b}); a route they share by @id ` +
      'may differ only in its upstreams: print the same route from every replica (no replica-specific value ' +
      'outside "upstreams"), or give each replica its own @id',
    template,
    jsonPath
  )
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/**
 * The one value of `values` (the same JSON in every replica's snippet), but for arrays under an
 * `upstreams` key, which are concatenated (each upstream once). `fail(at)` makes the error for a
 * difference elsewhere, `at` its JSON pointer.
 */
export function mergeUpstreams(
  values: readonly unknown[],
  at: string,
  key: string | undefined,
  fail: (at: string) => Error
): unknown {
  const first = values[0]
  if (key === 'upstreams' && values.every(Array.isArray)) {
    const out: unknown[] = []
    for (const list of values as unknown[][]) for (const u of list) if (!out.some(o => sameJson(o, u))) out.push(u)
    return out
  }
  if (values.every(Array.isArray)) {
    const arrays = values as unknown[][]
    if (arrays.some(a => a.length !== arrays[0]!.length)) throw fail(at)
    return arrays[0]!.map((_, i) =>
      mergeUpstreams(
        arrays.map(a => a[i]),
        `${at}/${i}`,
        undefined,
        fail
      )
    )
  }
  if (values.every(isObject)) {
    const objects = values as Array<Record<string, unknown>>
    const keys = Object.keys(objects[0]!)
    for (const o of objects) {
      const other = Object.keys(o)
      const missing = keys.find(k => !(k in o)) ?? other.find(k => !(k in objects[0]!))
      if (missing !== undefined) throw fail(`${at}/${pointer(missing)}`)
    }
    return Object.fromEntries(
      keys.map(k => [
        k,
        mergeUpstreams(
          objects.map(o => o[k]),
          `${at}/${pointer(k)}`,
          k,
          fail
        )
      ])
    )
  }
  if (values.every(v => sameJson(v, first))) return first
  throw fail(at)
}

const pointer = (k: string): string => k.replaceAll('~', '~0').replaceAll('/', '~1')

export interface GroupedRoutes {
  /** By replica group (replicaGroup): the routes its owners share, by @id. */
  shared: Map<string, Map<string, Snippet>>
  /** Groups whose replicas print a shared @id differently, with the error. */
  failed: Map<string, Error>
}

/** sharedRoutes for every replica group among these owners' records (a reload's desired ones). */
export function routesByGroup(
  recs: ReadonlyArray<{ owner: string; service: string; deployment?: string | undefined; snippets: Snippet[] }>,
  templateOf: (service: string) => string | undefined = () => undefined
): GroupedRoutes {
  const groups = new Map<string, RouteHolder[]>()
  const services = new Map<string, string>()
  for (const r of recs) {
    const g = replicaGroup(r)
    if (g === undefined) continue
    services.set(g, r.service)
    const list = groups.get(g)
    if (list === undefined) groups.set(g, [r])
    else list.push(r)
  }
  const out: GroupedRoutes = { shared: new Map(), failed: new Map() }
  for (const [g, holders] of groups) {
    try {
      out.shared.set(g, sharedRoutes(holders, templateOf(services.get(g)!)))
    } catch (err) {
      out.failed.set(g, err as Error)
    }
  }
  return out
}
