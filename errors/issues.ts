import { closest, distance } from 'fastest-levenshtein'
import type { z } from 'zod'

// Turns zod issues into operator-facing lines, for service, host, hosts and policy files alike:
// "/pods/0/pod_tmplate: unknown field; did you mean "pod_template"?". The JSON path is a JSON
// Pointer so it can be pasted into jq or an editor.

export interface IssueLine {
  jsonPath: string
  message: string
}

export function jsonPointer(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '/'
  return path.map(p => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('')
}

export function describeIssues(schema: z.ZodType, issues: ReadonlyArray<z.core.$ZodIssue>): IssueLine[] {
  const lines: IssueLine[] = []
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = objectKeysAt(schema, issue.path)
      for (const key of issue.keys) {
        lines.push({ jsonPath: jsonPointer([...issue.path, key]), message: 'unknown field' + suggestion(key, known) })
      }
    } else if (issue.code === 'invalid_key') {
      // A record key refused by its key schema: say it is the key, not the value.
      const inner = issue.issues[0]
      lines.push({ jsonPath: jsonPointer(issue.path), message: `key ${inner?.message ?? issue.message}` })
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Report the branch that got furthest instead of "Invalid input".
      const best = issue.errors.slice().sort((a, b) => depth(b) - depth(a))[0] ?? []
      if (best.length === 0) lines.push({ jsonPath: jsonPointer(issue.path), message: issue.message })
      const nested = best.map(sub => ({ ...sub, path: [...issue.path, ...sub.path] }) as z.core.$ZodIssue)
      lines.push(...describeIssues(schema, nested))
    } else {
      lines.push({ jsonPath: jsonPointer(issue.path), message: issue.message })
    }
  }
  return lines
}

function depth(issues: ReadonlyArray<z.core.$ZodIssue>): number {
  return Math.max(0, ...issues.map(i => i.path.length))
}

/** `; did you mean "x"?` for a near miss, else the list of known fields. */
export function suggestion(key: string, known: string[]): string {
  if (known.length === 0) return ''
  const best = closest(key, known)
  const limit = Math.max(2, Math.floor(key.length / 3))
  return distance(key, best) <= limit ? `; did you mean "${best}"?` : `; known fields: ${known.join(', ')}`
}

// Walks the schema along a data path (through optional, lazy and union wrappers) to the object
// whose keys were rejected, to suggest the closest known key. Uses zod 4's `_zod.def`, which is
// stable across zod 4 minors.
function objectKeysAt(schema: z.ZodType, path: ReadonlyArray<PropertyKey>): string[] {
  let node: any = unwrap(schema)
  for (const segment of path) {
    const def = node?._zod?.def
    if (def === undefined) return []
    if (def.type === 'object') node = unwrap(def.shape[segment as string])
    else if (def.type === 'array') node = unwrap(def.element)
    else if (def.type === 'record') node = unwrap(def.valueType)
    else return []
  }
  const def = node?._zod?.def
  return def?.type === 'object' ? Object.keys(def.shape) : []
}

// Bounded: a lazy schema may refer to itself (policy matchers nest).
function unwrap(node: any): any {
  for (let i = 0; i < 20; i++) {
    const def = node?._zod?.def
    if (def === undefined) return node
    if (def.type === 'lazy') node = def.getter()
    else if (def.type === 'union') node = def.options.find((o: any) => isObject(unwrap(o))) ?? def.options[0]
    else if (['optional', 'default', 'nullable', 'prefault'].includes(def.type)) node = def.innerType
    else if (def.type === 'pipe') node = def.in
    else return node
  }
  return node
}

function isObject(node: any): boolean {
  return node?._zod?.def?.type === 'object'
}
