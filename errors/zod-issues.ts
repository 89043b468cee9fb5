import { closest, distance } from 'fastest-levenshtein'
import type { z } from 'zod'

// Turns zod issues into operator-facing lines: "/pods/0/pod_tmplate: unknown field; did you
// mean "pod_template"?". The JSON path is a JSON Pointer so it can be pasted into jq/editors.

export interface IssueLine { jsonPath: string, message: string }

export function jsonPointer (path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '/'
  return path.map(p => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('')
}

export function describeIssues (schema: z.ZodType, issues: ReadonlyArray<z.core.$ZodIssue>): IssueLine[] {
  const lines: IssueLine[] = []
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = objectKeysAt(schema, issue.path)
      for (const key of issue.keys) {
        lines.push({ jsonPath: jsonPointer([...issue.path, key]), message: 'unknown field' + suggestion(key, known) })
      }
    } else if (issue.code === 'invalid_key') {
      const inner = issue.issues[0]
      lines.push({ jsonPath: jsonPointer(issue.path), message: `key ${inner?.message ?? issue.message}` })
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Report the branch that got furthest instead of "Invalid input".
      const best = issue.errors.slice().sort((a, b) => depth(b) - depth(a))[0] ?? []
      if (best.length === 0) lines.push({ jsonPath: jsonPointer(issue.path), message: issue.message })
      for (const sub of best) lines.push(...describeIssues(schema, [{ ...sub, path: [...issue.path, ...sub.path] } as z.core.$ZodIssue]))
    } else {
      lines.push({ jsonPath: jsonPointer(issue.path), message: issue.message })
    }
  }
  return lines
}

function depth (issues: ReadonlyArray<z.core.$ZodIssue>): number {
  return Math.max(0, ...issues.map(i => i.path.length))
}

export function suggestion (key: string, known: string[]): string {
  if (known.length === 0) return ''
  const best = closest(key, known)
  const limit = Math.max(2, Math.floor(key.length / 3))
  return distance(key, best) <= limit ? `; did you mean "${best}"?` : `; known fields: ${known.join(', ')}`
}

// Walks the schema along a data path to the object whose keys were rejected. Uses zod 4's
// `_zod.def`, which is stable across zod 4 minors.
function objectKeysAt (schema: z.ZodType, path: ReadonlyArray<PropertyKey>): string[] {
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

function unwrap (node: any): any {
  while (node?._zod?.def !== undefined && ['optional', 'default', 'nullable', 'prefault', 'pipe'].includes(node._zod.def.type)) {
    node = node._zod.def.innerType ?? node._zod.def.in
  }
  return node
}
