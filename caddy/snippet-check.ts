// The light half of proxy snippets: their type and a check of the valid case, without zod.
// `isSnippetList` accepts exactly what snippetListSchema (snippet-schema.ts) accepts (its unit
// test compares the two), so commands that only read snippets back (records, protected routes)
// and the reload that finds nothing changed never load zod; the schema, with its messages, is
// loaded only to explain a refusal.

/** One Caddy snippet printed by a proxy_config_template. */
export interface Snippet {
  /** Where the config is POSTed: a Caddy @id path ("front/routes") or a /config/... path. */
  id: string
  /** The Caddy JSON snippet (any JSON value); needs a unique "@id" unless register_only. */
  // biome-ignore lint/complexity/noBannedTypes: any JSON value but undefined, as the zod schema's type
  config: {} | null
  /** Register but never deregister (kept when the service stops); the @id is then optional. */
  register_only?: boolean | undefined
}

const KEYS = new Set(['id', 'config', 'register_only'])

/** A Caddy @id path or a /config/... path: no spaces, "?", "#" or ".." segment. */
export function isSnippetTarget(id: string): boolean {
  return !/[\s?#]/.test(id) && !id.split('/').includes('..')
}

/** The snippet's `@id`, if its config is an object carrying a non-empty string one. */
export function snippetAtId(s: Pick<Snippet, 'config'>): string | undefined {
  const c = s.config
  if (c === null || typeof c !== 'object' || Array.isArray(c)) return undefined
  const id = (c as Record<string, unknown>)['@id']
  return typeof id === 'string' && id !== '' ? id : undefined
}

function isSnippet(v: unknown): v is Snippet {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false
  const o = v as Record<string, unknown>
  for (const k of Object.keys(o)) if (!KEYS.has(k)) return false
  return (
    typeof o.id === 'string' &&
    o.id !== '' &&
    isSnippetTarget(o.id) &&
    o.config !== undefined &&
    (o.register_only === undefined || typeof o.register_only === 'boolean')
  )
}

/** A valid snippet list: each snippet well-formed, every @id unique, present unless register_only. */
export function isSnippetList(v: unknown): v is Snippet[] {
  if (!Array.isArray(v)) return false
  const seen = new Set<string>()
  for (const s of v) {
    if (!isSnippet(s)) return false
    const atId = snippetAtId(s)
    if (atId === undefined) {
      if (s.register_only !== true) return false
    } else {
      if (seen.has(atId)) return false
      seen.add(atId)
    }
  }
  return true
}
