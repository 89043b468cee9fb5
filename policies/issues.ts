import { closest, distance } from 'fastest-levenshtein'
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser'
import type { z } from 'zod'
import { PolicySyntax, type PolicyProblem } from './errors.js'

// policies/ imports nothing of ours, so it has its own small JSONC reader and zod-issue
// formatter producing the same `FILE: /json/path: reason; did you mean "x"?` lines as services.

export function parsePolicyJsonc (text: string, file: string): unknown {
  const errors: ParseError[] = []
  const value = parse(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false })
  if (errors.length > 0) {
    const first = errors[0]!
    let line = 1
    let lineStart = 0
    for (let i = 0; i < first.offset && i < text.length; i++) if (text.charCodeAt(i) === 10) { line++; lineStart = i + 1 }
    throw new PolicySyntax(`line ${line} column ${first.offset - lineStart + 1}: JSON syntax error: ${printParseErrorCode(first.error)}`, file)
  }
  return value
}

export function jsonPointer (path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '/'
  return path.map(p => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('')
}

export function describePolicyIssues (file: string, schema: z.ZodType, issues: ReadonlyArray<z.core.$ZodIssue>): PolicyProblem[] {
  const out: PolicyProblem[] = []
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = objectKeysAt(schema, issue.path)
      for (const key of issue.keys) out.push({ file, jsonPath: jsonPointer([...issue.path, key]), message: 'unknown field' + suggestion(key, known) })
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Report the branch that got furthest instead of "Invalid input".
      const best = issue.errors.slice().sort((a, b) => depth(b) - depth(a))[0] ?? []
      if (best.length === 0) out.push({ file, jsonPath: jsonPointer(issue.path), message: issue.message })
      out.push(...describePolicyIssues(file, schema, best.map(sub => ({ ...sub, path: [...issue.path, ...sub.path] }) as z.core.$ZodIssue)))
    } else {
      out.push({ file, jsonPath: jsonPointer(issue.path), message: issue.message })
    }
  }
  return out
}

export function suggestion (key: string, known: string[]): string {
  if (known.length === 0) return ''
  const best = closest(key, known)
  const limit = Math.max(2, Math.floor(key.length / 3))
  return distance(key, best) <= limit ? `; did you mean "${best}"?` : `; known fields: ${known.join(', ')}`
}

function depth (issues: ReadonlyArray<z.core.$ZodIssue>): number {
  return Math.max(0, ...issues.map(i => i.path.length))
}

// Walks the schema along the data path (through lazy/optional wrappers) to the object whose
// keys were rejected, to suggest the closest known key.
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
  return node?._zod?.def?.type === 'object' ? Object.keys(node._zod.def.shape) : []
}

function unwrap (node: any): any {
  for (let i = 0; i < 20; i++) {
    const def = node?._zod?.def
    if (def === undefined) return node
    if (def.type === 'lazy') node = def.getter()
    else if (def.type === 'union') node = def.options.find((o: any) => unwrap(o)?._zod?.def?.type === 'object') ?? def.options[0]
    else if (['optional', 'default', 'nullable', 'prefault'].includes(def.type)) node = def.innerType
    else if (def.type === 'pipe') node = def.in
    else return node
  }
  return node
}
