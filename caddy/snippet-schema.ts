import { parseTree, printParseErrorCode, type ParseError } from 'jsonc-parser'
import { z } from 'zod'
import { isSnippetTarget, snippetAtId, type Snippet } from './snippet-check.js'

// The zod schema of proxy snippets, with the messages an operator reads when a template prints
// something wrong. Loaded only then (snippets.ts `validateSnippets`, caddy/index.ts
// `loadSnippetSchemas`): zod costs ~100 ms of a CLI start.

export const snippetSchema = z
  .strictObject({
    id: z
      .string()
      .min(1, 'must not be empty')
      .refine(
        isSnippetTarget,
        'must be a Caddy @id path (e.g. "front/routes") or a /config/... path, without spaces, "?", "#" or ".."'
      )
      .describe(
        'Where the config is POSTed: a Caddy @id path ("front/routes" means /id/front/routes) or a /config/... path.'
      ),
    config: z
      .unknown()
      .refine(v => v !== undefined, 'missing: the Caddy JSON to register')
      .describe('The Caddy JSON snippet. Needs a unique "@id" unless register_only.'),
    register_only: z
      .boolean()
      .optional()
      .describe('Register but never deregister (kept when the service stops); the @id is then optional.')
  })
  .describe('One Caddy snippet printed by a proxy_config_template.')

export const snippetListSchema = z
  .array(snippetSchema)
  .superRefine((list, ctx) => {
    const seen = new Map<string, number>()
    list.forEach((s, i) => {
      const atId = snippetAtId(s)
      if (atId === undefined) {
        if (s.register_only !== true) {
          ctx.addIssue({
            code: 'custom',
            path: [i, 'config', '@id'],
            message:
              'missing: a snippet that is not register_only needs a unique @id (a non-empty string) so it can be replaced and removed'
          })
        }
        return
      }
      const first = seen.get(atId)
      if (first !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [i, 'config', '@id'],
          message: `duplicate @id "${atId}" (also at /${first}/config/@id): each snippet needs its own`
        })
      else seen.set(atId, i)
    })
  })
  .describe('Output of a proxy_config_template: a JSON array of snippets.')

// The hand-written Snippet type is the schema's, both ways.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const sameType: Same<z.infer<typeof snippetSchema>, Snippet> = true
void sameType

/** What is wrong with a value that is not a valid snippet list: one line per problem. */
export function snippetProblems(value: unknown): Array<{ path: string; message: string }> {
  const result = snippetListSchema.safeParse(value)
  if (result.success) return []
  return result.error.issues.map(i => ({
    path: pointer(i.path),
    message:
      i.code === 'invalid_type' && i.path.length === 0
        ? `expected a JSON array of {id, config, register_only}, got ${kindOf(value)}`
        : i.message
  }))
}

/** Where and what the JSON syntax error is, without quoting the text. */
export function syntaxError(text: string): string {
  const errors: ParseError[] = []
  parseTree(text, errors, { disallowComments: true, allowTrailingComma: false })
  const first = errors[0]
  if (first === undefined) return 'invalid JSON'
  const before = text.slice(0, first.offset)
  const line = before.split('\n').length
  const column = first.offset - before.lastIndexOf('\n')
  return `line ${line} column ${column}: ${printParseErrorCode(first.error)}`
}

function pointer(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '/'
  return path.map(p => '/' + String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('')
}

function kindOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v
}
