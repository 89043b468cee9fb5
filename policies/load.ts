import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { LRUCache } from 'lru-cache'
import path from 'node:path'
import { compilePolicies, type CompileOptions, type CompiledPolicy, type PolicySource } from './compile.js'
import { decide, type AuthRequest, type Decision } from './decide.js'
import { PolicyInvalid, PolicyNotFound, type PolicyProblem } from './errors.js'
import { DECISION_CACHE_MAX, MAX_CREDENTIAL_BYTES } from './defaults.js'
import { describePolicyIssues, parsePolicyJsonc } from './issues.js'
import { POLICY_NAME_RE, policyFileSchema } from './schema.js'

// Reads <roots.policies>/NAME.json (JSON with comments), validates and compiles them into a
// PolicySet: the immutable object the gateway swaps on SIGHUP.

export class PolicySet {
  // Allow decisions by (policy, hash of the Authorization header, authorization, origin): a
  // repeated request costs one SHA-256 and one map lookup. Keyed by the hash, not the token,
  // so the lookup reveals nothing about stored secrets; allows only, so a refused token is
  // re-examined every time (e.g. after a JWKS refresh). The set is replaced on reload, and
  // its cache with it.
  private readonly allowed = new LRUCache<string, Decision>({ max: DECISION_CACHE_MAX })
  private readonly now: () => number

  constructor (private readonly policies: ReadonlyMap<string, CompiledPolicy>, readonly problems: readonly PolicyProblem[] = [], now?: () => number) {
    this.now = now ?? Date.now
  }

  get names (): string[] { return [...this.policies.keys()].sort() }
  get size (): number { return this.policies.size }
  has (name: string): boolean { return this.policies.has(name) }
  get (name: string): CompiledPolicy | undefined { return this.policies.get(name) }

  /** Decides a request; an unknown policy is a 403 (never an exception). */
  async decide (policy: string, req: AuthRequest): Promise<Decision> {
    const p = this.policies.get(policy)
    if (p === undefined) return { allow: false, status: 403, policy, reason: 'unknown policy', meta: {}, authorizations: [] }
    const key = cacheKey(policy, req)
    const hit = key === undefined ? undefined : this.allowed.get(key)
    if (hit !== undefined && (hit.validUntil === undefined || hit.validUntil > this.now())) return hit
    const d = await decide(p, req)
    // Cached decisions are shared by every caller (gateway plugins too): frozen, so none can alter another's.
    if (d.allow && key !== undefined) this.allowed.set(key, deepFreeze(d))
    else if (hit !== undefined) this.allowed.delete(key!)
    return d
  }
}

function deepFreeze (d: Decision): Decision {
  Object.freeze(d.meta)
  Object.freeze(d.authorizations)
  return Object.freeze(d)
}

function cacheKey (policy: string, req: AuthRequest): string | undefined {
  const cred = req.credential
  // Oversized credentials are refused by decide(); never hash megabytes for a cache key.
  if (cred !== undefined && cred.length > MAX_CREDENTIAL_BYTES) return undefined
  const digest = cred === undefined ? '-' : createHash('sha256').update(cred).digest('base64')
  return `${policy}\n${digest}\n${req.authorization ?? ''}\n${req.origin ?? ''}`
}

/** Parses and validates one policy file (no compilation). */
export function readPolicySource (file: string): PolicySource {
  const name = path.basename(file, '.json')
  let text: string
  try { text = readFileSync(file, 'utf8') } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new PolicyNotFound(`no policy "${name}" (file not found)`, file)
    throw new PolicyInvalid(`cannot read file (${code ?? String(err)})`, file, undefined, { cause: err })
  }
  if (!POLICY_NAME_RE.test(name)) throw new PolicyInvalid('policy file names use letters, digits and _ . - (NAME.json)', file)
  const raw = parsePolicyJsonc(text, file)
  const parsed = policyFileSchema.safeParse(raw)
  if (!parsed.success) throw PolicyInvalid.fromProblems(describePolicyIssues(file, policyFileSchema, parsed.error.issues))
  return { name, file, data: parsed.data }
}

/**
 * Loads every NAME.json of a directory. Broken policies are left out and listed in
 * `problems` (a missing directory is an empty set): the caller decides whether a problem is
 * fatal (SIGHUP reload: keep the old set) or a warning (first start: serve the valid ones).
 */
export function loadPolicySet (dir: string, opts: CompileOptions = {}): PolicySet {
  let files: string[]
  try { files = readdirSync(dir).filter(f => f.endsWith('.json')).sort() } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new PolicySet(new Map())
    throw new PolicyInvalid(`cannot list policies (${(err as NodeJS.ErrnoException).code ?? String(err)})`, dir)
  }
  const sources: PolicySource[] = []
  const problems: PolicyProblem[] = []
  for (const f of files) {
    try { sources.push(readPolicySource(path.join(dir, f))) } catch (err) {
      if (err instanceof PolicyInvalid) problems.push(...err.allProblems())
      else throw err
    }
  }
  const compiled = compilePolicies(sources, opts)
  return new PolicySet(compiled.policies, [...problems, ...compiled.problems], opts.now)
}
