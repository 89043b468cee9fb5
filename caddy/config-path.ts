import { adminPath } from './client.js'
import { holds, sameJson, snippetAtId, type Snippet, type SnippetState } from './snippets.js'

// Caddy's config as a plain JSON value, walked the way its admin API resolves paths: an @id
// anywhere in the tree, or a /config/... path from the root. Pure: used on a copy of the
// config read once (swap.ts plans a route switch on it; snippetStateIn checks a snippet in it).

/**
 * Is the snippet in this config: by @id, or (without one) by an equal value at its target. The
 * same answer snippetState gives with one admin request per snippet, from one read of /config/.
 */
export function snippetStateIn(config: unknown, s: Snippet): SnippetState {
  const atId = snippetAtId(s)
  if (atId !== undefined) {
    const at = findAtId(config, atId)
    if (at === undefined) return 'missing'
    return sameJson(at.parent[at.key], s.config) ? 'registered' : 'outdated'
  }
  const target = resolve(config, s.id)
  const value = target === undefined ? undefined : target.parent[target.key]
  return value !== undefined && value !== null && holds(value, s.config) ? 'registered' : 'missing'
}

export type Container = Record<string | number, unknown>
export interface Slot {
  parent: Container
  key: string | number
}

export function atIdOf(v: unknown): string | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? snippetAtId({ config: v }) : undefined
}

/** Where the object carrying "@id": atId sits (depth first, as Caddy indexes every @id). */
export function findAtId(root: unknown, atId: string): Slot | undefined {
  const walk = (parent: Container, key: string | number): Slot | undefined => {
    const v = parent[key]
    if (v === null || typeof v !== 'object') return undefined
    if (atIdOf(v) === atId) return { parent, key }
    const entries: Array<string | number> = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v)
    for (const k of entries) {
      const found = walk(v as Container, k)
      if (found !== undefined) return found
    }
    return undefined
  }
  return walk({ root } as Container, 'root')
}

/**
 * The slot a snippet `id` names: `front/routes` is the `routes` key of the object whose @id is
 * `front`; `/config/a/b` is from the config root. The last segment may be missing (POST then
 * creates it); every segment before it must exist.
 */
export function resolve(root: unknown, id: string): Slot | undefined {
  const path = adminPath(id)
  let segments: string[]
  let start: Slot
  if (path.startsWith('/id/')) {
    const [head, ...rest] = path
      .slice(4)
      .split('/')
      .filter(s => s !== '')
    const at = head === undefined ? undefined : findAtId(root, head)
    if (at === undefined) return undefined
    start = at
    segments = rest
  } else {
    start = { parent: { root } as Container, key: 'root' }
    segments = path
      .slice('/config'.length)
      .split('/')
      .filter(s => s !== '')
  }
  let slot = start
  for (const seg of segments) {
    const v = slot.parent[slot.key]
    if (v === null || typeof v !== 'object') return undefined
    if (Array.isArray(v)) {
      if (!/^\d+$/.test(seg) || Number(seg) >= v.length) return undefined
      slot = { parent: v as unknown as Container, key: Number(seg) }
    } else slot = { parent: v as Container, key: seg }
  }
  return slot
}
