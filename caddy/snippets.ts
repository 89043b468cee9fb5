import { isDeepStrictEqual } from 'node:util'
import { adminPath, type CaddyClient } from './client.js'
import { CaddyConflict, CaddyNotFound, SnippetInvalid } from './errors.js'
import { DEFAULT_MAX_ATTEMPTS as MAX_ROUNDS } from './defaults.js'
import { isSnippetList, snippetAtId, type Snippet } from './snippet-check.js'

export { isSnippetList, snippetAtId, type Snippet }

// Proxy snippets (seed "the proxy configuration template"): a JSON array of
// {id, config, register_only}. `id` is where the config is POSTed (an @id path such as
// `front/routes`, or a `/config/...` path); `config` carries a unique `@id` so it can be
// replaced and removed later, unless `register_only` (e.g. a domain added for certificates).
// Valid output is recognised without zod (snippet-check.ts); the schema and its messages
// (snippet-schema.ts) are loaded only to explain what is wrong.

/**
 * Parses and validates a template's output. `source` (the template file) prefixes every
 * error: `TEMPLATE: /2/config/@id: missing: ...`. Empty output means "no snippet".
 */
export async function parseSnippets(text: string, source: string): Promise<Snippet[]> {
  if (text.trim() === '') return []
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    // Not JSON.parse's message: Node 20 quotes the input in it, and snippets may hold secrets.
    const { syntaxError } = await import('./snippet-schema.js')
    throw new SnippetInvalid(
      `output is not JSON (${syntaxError(text)}); a proxy template prints a JSON array of {id, config, register_only}`,
      source
    )
  }
  return await validateSnippets(value, source)
}

export async function validateSnippets(value: unknown, source: string): Promise<Snippet[]> {
  if (isSnippetList(value)) return value
  const lines = (await import('./snippet-schema.js')).snippetProblems(value)
  // Never empty for a value isSnippetList refuses (the two agree); a generic line just in case.
  const first = lines[0] ?? { path: '/', message: 'not a valid snippet list' }
  const err = new SnippetInvalid(first.message, source, first.path)
  if (lines.length > 1) err.message = lines.map(l => `${source}: ${l.path}: ${l.message}`).join('\n')
  throw Object.assign(err, { problems: lines })
}

export type RegisterResult = 'created' | 'replaced' | 'unchanged'
export type DeregisterResult = 'deleted' | 'absent' | 'kept'
export type SnippetState = 'registered' | 'outdated' | 'missing'

/**
 * Registers one snippet idempotently. With an @id: replaced in place (PATCH) when it exists
 * and differs, left alone when equal, else POSTed at `id`. Without one (register_only): POSTed
 * only if the target does not already hold an equal value. Each decision is guarded by the
 * ETag of what it read, so two conductor processes cannot both append the same snippet.
 */
export async function registerSnippet(caddy: CaddyClient, s: Snippet): Promise<RegisterResult> {
  const atId = snippetAtId(s)
  for (let round = 1; ; round++) {
    if (round > MAX_ROUNDS)
      throw new CaddyConflict(
        `snippet @id "${atId ?? ''}" at ${s.id} kept appearing and disappearing while registering it; another process is changing it in a loop`
      )
    if (atId !== undefined) {
      const existing = await readIfPresent(caddy, `/id/${atId}`)
      if (existing !== undefined) {
        if (sameJson(existing.value, s.config)) return 'unchanged'
        try {
          await caddy.patch(`/id/${atId}`, s.config, existing.etag)
          return 'replaced'
        } catch (err) {
          if (isPreconditionFailed(err)) continue
          throw err
        }
      }
    }
    // Not there yet: append at the target, guarded by the target's ETag; if someone else
    // changed the target meanwhile (maybe registering the same @id), decide again.
    let created: RegisterResult | 'retry'
    try {
      created = await caddy.update(s.id, async (current: unknown, etag) => {
        if (atId === undefined && holds(current, s.config)) return 'unchanged' as const
        if (atId !== undefined && (await caddy.has(`/id/${atId}`))) return 'retry' as const
        await caddy.post(s.id, s.config, etag)
        return 'created' as const
      })
    } catch (err) {
      // The target itself does not exist yet: a `/config/.../NEW_KEY` path creates it (POST
      // sets an object key). Two writers doing so set the same key: nothing to duplicate.
      if (!(err instanceof CaddyNotFound && err.method === 'GET')) throw err
      await caddy.post(s.id, s.config)
      created = 'created'
    }
    if (created !== 'retry') return created
  }
}

/** Deletes a snippet by its @id; register_only snippets are kept. Absent is not an error. */
export async function deregisterSnippet(caddy: CaddyClient, s: Snippet): Promise<DeregisterResult> {
  if (s.register_only === true) return 'kept'
  const atId = snippetAtId(s)
  if (atId === undefined) return 'kept'
  try {
    await caddy.delete(`/id/${atId}`)
    return 'deleted'
  } catch (err) {
    if (err instanceof CaddyNotFound) return 'absent'
    throw err
  }
}

/** Is the snippet in Caddy's config: by @id, or (without one) by an equal value at its target. */
export async function snippetState(caddy: CaddyClient, s: Snippet): Promise<SnippetState> {
  const atId = snippetAtId(s)
  if (atId !== undefined) {
    const existing = await readIfPresent(caddy, `/id/${atId}`)
    if (existing === undefined) return 'missing'
    return sameJson(existing.value, s.config) ? 'registered' : 'outdated'
  }
  const target = await readIfPresent(caddy, s.id)
  return target !== undefined && holds(target.value, s.config) ? 'registered' : 'missing'
}

export async function registerSnippets(caddy: CaddyClient, snippets: Snippet[]): Promise<RegisterResult[]> {
  const out: RegisterResult[] = []
  // In order: a later snippet may target an @id an earlier one created.
  for (const s of snippets) out.push(await registerSnippet(caddy, s))
  return out
}

export async function deregisterSnippets(caddy: CaddyClient, snippets: Snippet[]): Promise<DeregisterResult[]> {
  const out: DeregisterResult[] = []
  // Reverse order: children before the objects that hold them.
  for (const s of [...snippets].reverse()) out.unshift(await deregisterSnippet(caddy, s))
  return out
}

async function readIfPresent(
  caddy: CaddyClient,
  idOrPath: string
): Promise<{ value: unknown; etag: string | undefined } | undefined> {
  try {
    const got = await caddy.getWithEtag(adminPath(idOrPath))
    // A missing key under an existing /config/ object reads as 200 `null`.
    return got.value === null ? undefined : got
  } catch (err) {
    if (err instanceof CaddyNotFound) return undefined
    throw err
  }
}

function isPreconditionFailed(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { status?: unknown }).status === 412
}

/** The target already holds the value: it is that value, or an array containing it. */
export function holds(target: unknown, value: unknown): boolean {
  if (Array.isArray(target) && !Array.isArray(value)) return target.some(x => sameJson(x, value))
  return sameJson(target, value)
}

/** JSON equality as Caddy stores it (key order and number spelling do not matter). */
export function sameJson(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(JSON.parse(JSON.stringify(a ?? null)), JSON.parse(JSON.stringify(b ?? null)))
}
