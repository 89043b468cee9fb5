import * as crypto from 'node:crypto'
import { closeSync, fstatSync, openSync, readdirSync, readFileSync } from 'node:fs'
import { LRUCache } from 'lru-cache'
import path from 'node:path'
import { compilePolicies, type CompileOptions, type CompiledPolicy, type PolicySource } from './compile.js'
import { decide, type AuthRequest, type Decision } from './decide.js'
import { describeIssues, parseJsonc } from '../errors/index.js'
import { PolicyInvalid, PolicyNotFound, PolicySyntax, type PolicyProblem } from './errors.js'
import { DECISION_CACHE_MAX, MAX_CREDENTIAL_BYTES } from './defaults.js'
import type { MatcherFile, PolicyFile } from './schema.js'
import { POLICY_NAME_RE } from './shape.js'

// Reads <roots.policies>/NAME.json (JSON with comments), validates and compiles them into a
// PolicySet: the immutable object the gateway swaps on SIGHUP. The zod schema (schema.ts, ~100
// ms of a cold start) loads only for content that a ValidatedContents does not know as valid.

/**
 * Remembers file contents that passed validation (conductor/model's ValidationCache fits: a
 * SHA-256 of the content per kind, saved across runs). Known content skips the zod schema: it
 * holds no transforms or defaults, so the parsed JSON is what zod would have returned.
 */
export interface ValidatedContents {
  isKnownValid: (content: string, kind: 'policy') => boolean
  markValid: (content: string, kind: 'policy') => void
}

/** A policy as it was compiled, kept so that the next reload can fall back to it. */
export interface LoadedSource {
  source: PolicySource
  loadedAt: Date
}

/** A policy whose file is broken now, served from the last version that loaded. */
export interface StalePolicy {
  name: string
  file: string
  since: Date
}

export interface PolicySetInfo {
  sources?: ReadonlyMap<string, LoadedSource> | undefined
  stale?: readonly StalePolicy[] | undefined
  /** Not errors, but worth fixing: a plaintext token in a file others can read. */
  warnings?: readonly PolicyProblem[] | undefined
}

export class PolicySet {
  // Allow decisions by (policy, hash of the Authorization header, authorization, origin): a
  // repeated request costs one SHA-256 and one map lookup. Keyed by the hash, not the token,
  // so the lookup reveals nothing about stored secrets; allows only, so a refused token is
  // re-examined every time (e.g. after a JWKS refresh). The set is replaced on reload, and
  // its cache with it. An allow built on a JWK Set's key holds until that set is due for a
  // refetch (its validUntil), and the whole cache is dropped when a refetch removes a key.
  private readonly allowed = new LRUCache<string, Decision>({ max: DECISION_CACHE_MAX })
  private readonly now: () => number
  readonly sources: ReadonlyMap<string, LoadedSource>
  readonly stale: readonly StalePolicy[]
  readonly warnings: readonly PolicyProblem[]

  constructor(
    private readonly policies: ReadonlyMap<string, CompiledPolicy>,
    readonly problems: readonly PolicyProblem[] = [],
    now?: () => number,
    info: PolicySetInfo = {}
  ) {
    this.now = now ?? Date.now
    this.sources = info.sources ?? new Map()
    this.stale = info.stale ?? []
    this.warnings = info.warnings ?? []
    // Key removals are rare: forgetting every cached allow costs each credential one evaluation.
    for (const p of policies.values())
      for (const jwks of p.jwks)
        jwks.onKeysRemoved(() => {
          this.allowed.clear()
        })
  }

  get names(): string[] {
    return [...this.policies.keys()].sort()
  }
  get size(): number {
    return this.policies.size
  }
  has(name: string): boolean {
    return this.policies.has(name)
  }
  get(name: string): CompiledPolicy | undefined {
    return this.policies.get(name)
  }

  /** Decides a request; an unknown policy is a 403 (never an exception). */
  async decide(policy: string, req: AuthRequest): Promise<Decision> {
    return await this.decideNow(policy, req)
  }

  /**
   * The same decision, returned synchronously when it needs no evaluation: an unknown policy,
   * or an allow from the cache (the /auth hot path: no promise, no microtask per request).
   * Anything else is decide()'s promise.
   */
  decideNow(policy: string, req: AuthRequest): Decision | Promise<Decision> {
    const p = this.policies.get(policy)
    if (p === undefined)
      return { allow: false, status: 403, policy, reason: 'unknown policy', meta: {}, authorizations: [] }
    const key = cacheKey(policy, req)
    const hit = key === undefined ? undefined : this.allowed.get(key)
    if (hit !== undefined && (hit.validUntil === undefined || hit.validUntil > this.now())) return hit
    return this.evaluate(p, req, key, hit !== undefined)
  }

  private async evaluate(
    p: CompiledPolicy,
    req: AuthRequest,
    key: string | undefined,
    expired: boolean
  ): Promise<Decision> {
    const d = await decide(p, req)
    // Cached decisions are shared by every caller (gateway plugins too): frozen, so none can alter another's.
    if (d.allow && key !== undefined) this.allowed.set(key, deepFreeze(d))
    else if (expired) this.allowed.delete(key!)
    return d
  }
}

function deepFreeze(d: Decision): Decision {
  Object.freeze(d.meta)
  Object.freeze(d.authorizations)
  return Object.freeze(d)
}

function cacheKey(policy: string, req: AuthRequest): string | undefined {
  const cred = req.credential
  // Oversized credentials are refused by decide(); never hash megabytes for a cache key.
  if (cred !== undefined && cred.length > MAX_CREDENTIAL_BYTES) return undefined
  const digest = cred === undefined ? '-' : sha256Base64(cred)
  return `${policy}\n${digest}\n${req.authorization ?? ''}\n${req.origin ?? ''}`
}

// crypto.hash (Node >= 20.12) is the one-shot form: about a third of createHash's cost on the
// /auth hot path, where this digest is computed for every request.
const sha256Base64: (text: string) => string =
  typeof crypto.hash === 'function'
    ? text => crypto.hash('sha256', text, 'base64')
    : text => crypto.createHash('sha256').update(text).digest('base64')

/** A policy file read and parsed, not validated yet. */
interface ReadPolicy {
  name: string
  file: string
  text: string
  mode: number
  raw: unknown
}

function readPolicyFile(file: string): ReadPolicy {
  const name = path.basename(file, '.json')
  let text: string
  let mode: number
  try {
    // One open for the mode and the text: they describe the same file even if it is replaced meanwhile.
    const fd = openSync(file, 'r')
    try {
      mode = fstatSync(fd).mode
      text = readFileSync(fd, 'utf8')
    } finally {
      closeSync(fd)
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new PolicyNotFound(`no policy "${name}" (file not found)`, file)
    throw new PolicyInvalid(`cannot read file (${code ?? String(err)})`, file, undefined, { cause: err })
  }
  if (!POLICY_NAME_RE.test(name))
    throw new PolicyInvalid('policy file names use letters, digits and _ . - (NAME.json)', file)
  return { name, file, text, mode, raw: parseJsonc(text, file, PolicySyntax) }
}

type Schemas = typeof import('./schema.js')

function validated(r: ReadPolicy, schemas: Schemas | undefined, cache: ValidatedContents | undefined): PolicySource {
  if (schemas === undefined) return { name: r.name, file: r.file, data: r.raw as PolicyFile, mode: r.mode }
  const { policyFileSchema } = schemas
  const parsed = policyFileSchema.safeParse(r.raw)
  if (!parsed.success) {
    throw PolicyInvalid.fromProblems(
      describeIssues(policyFileSchema, parsed.error.issues).map(l => ({ file: r.file, ...l }))
    )
  }
  cache?.markValid(r.text, 'policy')
  return { name: r.name, file: r.file, data: parsed.data, mode: r.mode }
}

/** Parses and validates one policy file (no compilation). */
export async function readPolicySource(file: string, cache?: ValidatedContents): Promise<PolicySource> {
  const r = readPolicyFile(file)
  const known = cache?.isKnownValid(r.text, 'policy') === true
  return validated(r, known ? undefined : await import('./schema.js'), cache)
}

/**
 * A plaintext `token` in a file that group or others may read: anyone with a shell account can
 * use it. Names the file and the first token's JSON path, never the token.
 */
export function plaintextTokenWarning(src: PolicySource): PolicyProblem | undefined {
  if (src.mode === undefined || (src.mode & 0o044) === 0) return undefined
  const paths: string[] = []
  const walk = (nodes: MatcherFile[], at: string): void => {
    nodes.forEach((m, i) => {
      const here = `${at}/${i}`
      m.bearer?.forEach((b, j) => {
        if (b.token !== undefined) paths.push(`${here}/bearer/${j}/token`)
      })
      for (const key of ['all', 'any', 'none'] as const) if (m[key] !== undefined) walk(m[key], `${here}/${key}`)
    })
  }
  walk(src.data.match, '/match')
  if (paths.length === 0) return undefined
  const who = (src.mode & 0o004) !== 0 ? 'everyone' : 'its group'
  const more = paths.length > 1 ? ` (and ${paths.length - 1} more)` : ''
  return {
    file: src.file,
    jsonPath: paths[0],
    message:
      `plaintext token${more} in a file ${who} can read (mode ${octal(src.mode)}): ` +
      `chmod 600 ${src.file}, or replace "token" with "token_sha256" (printf %s TOKEN | sha256sum)`
  }
}

const octal = (mode: number): string => (mode & 0o777).toString(8).padStart(4, '0')

/**
 * Loads every NAME.json of a directory. Broken policies are listed in `problems` (a missing
 * directory is an empty set). Without `previous` (first start, CLI) a broken policy is left
 * out. With it (SIGHUP reload) a policy whose file broke keeps the version `previous` served
 * (listed in `stale`), so one bad edit takes nothing down: the other policies (and what refers
 * to the broken one) reload as usual. A deleted file is gone.
 */
export async function loadPolicySet(
  dir: string,
  opts: CompileOptions = {},
  previous?: PolicySet,
  cache?: ValidatedContents
): Promise<PolicySet> {
  let files: string[]
  try {
    files = readdirSync(dir)
      .filter(f => f.endsWith('.json'))
      .sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new PolicySet(new Map(), [], opts.now)
    throw new PolicyInvalid(`cannot list policies (${(err as NodeJS.ErrnoException).code ?? String(err)})`, dir)
  }
  const loadedAt = new Date()
  const fresh = new Map<string, PolicySource>()
  const warnings: PolicyProblem[] = []
  // Problems of the files as they are now, by policy name; kept ones are served from `previous`.
  const broken = new Map<string, PolicyProblem[]>()
  const problems: PolicyProblem[] = []
  const refused = (name: string, err: unknown): void => {
    if (!(err instanceof PolicyInvalid)) throw err
    if (previous?.sources.has(name) === true) broken.set(name, err.allProblems())
    else problems.push(...err.allProblems())
  }
  const read: ReadPolicy[] = []
  for (const f of files) {
    try {
      read.push(readPolicyFile(path.join(dir, f)))
    } catch (err) {
      refused(path.basename(f, '.json'), err)
    }
  }
  // zod only if some content is new.
  const schemas = read.every(r => cache?.isKnownValid(r.text, 'policy') === true)
    ? undefined
    : await import('./schema.js')
  for (const r of read) {
    try {
      const src = validated(r, cache?.isKnownValid(r.text, 'policy') === true ? undefined : schemas, cache)
      fresh.set(r.name, src)
      const warning = plaintextTokenWarning(src)
      if (warning !== undefined) warnings.push(warning)
    } catch (err) {
      refused(r.name, err)
    }
  }
  const kept = (): Set<string> => new Set(broken.keys())
  const names = files.map(f => path.basename(f, '.json'))
  const sourceOf = (n: string, keep: Set<string>): PolicySource[] =>
    keep.has(n) ? [previous!.sources.get(n)!.source] : fresh.has(n) ? [fresh.get(n)!] : []
  const compile = (keep: Set<string>): ReturnType<typeof compilePolicies> =>
    compilePolicies(
      names.flatMap(n => sourceOf(n, keep)),
      opts
    )
  const failing = (r: ReturnType<typeof compilePolicies>): Map<string, PolicyProblem[]> => {
    const byName = new Map<string, PolicyProblem[]>()
    for (const p of r.problems) {
      const name = path.basename(p.file ?? '', '.json')
      byName.set(name, [...(byName.get(name) ?? []), p])
    }
    return byName
  }
  let result = compile(kept())
  if (previous !== undefined) {
    // A file that parses but does not compile (a bad key, a reference to nothing) keeps its
    // last good version too; repeat, since keeping one can change what the others resolve to.
    for (;;) {
      const more = [...failing(result)].filter(([n]) => !broken.has(n) && fresh.has(n) && previous.sources.has(n))
      if (more.length === 0) break
      for (const [n, p] of more) broken.set(n, p)
      result = compile(kept())
    }
    // Some were kept only because another policy they refer to failed at the same time: give
    // each new version another try now that the others have settled, and keep it if nothing
    // that compiled stops compiling.
    for (const n of [...broken.keys()].filter(n => fresh.has(n))) {
      const keep = kept()
      keep.delete(n)
      const trial = compile(keep)
      if ([...result.policies.keys()].every(k => trial.policies.has(k))) {
        broken.delete(n)
        result = trial
      }
    }
  }
  const sources = new Map<string, LoadedSource>()
  const stale: StalePolicy[] = []
  for (const name of result.policies.keys()) {
    const old = broken.has(name) ? previous!.sources.get(name)! : undefined
    if (old !== undefined) stale.push({ name, file: old.source.file, since: old.loadedAt })
    sources.set(name, old ?? { source: fresh.get(name)!, loadedAt })
  }
  // A kept file's own problems come first; its last good version may fail now as well (a policy
  // it refers to was deleted), then that is listed too, once.
  for (const p of broken.values()) problems.push(...p)
  const seen = new Set<string>()
  const all = [...problems, ...result.problems].filter(p => {
    const key = `${p.file ?? ''}\n${p.jsonPath ?? ''}\n${p.message}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
  return new PolicySet(result.policies, all, opts.now, { sources, stale, warnings })
}
