import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { compilePolicies, type CompileOptions, type CompiledPolicy, type PolicySource } from './compile.js'
import { decide, type AuthRequest, type Decision } from './decide.js'
import { PolicyInvalid, PolicyNotFound, type PolicyProblem } from './errors.js'
import { describePolicyIssues, parsePolicyJsonc } from './issues.js'
import { POLICY_NAME_RE, policyFileSchema } from './schema.js'

// Reads <roots.policies>/NAME.json (JSON with comments), validates and compiles them into a
// PolicySet: the immutable object the gateway swaps on SIGHUP.

export class PolicySet {
  constructor (private readonly policies: ReadonlyMap<string, CompiledPolicy>, readonly problems: readonly PolicyProblem[] = []) {}

  get names (): string[] { return [...this.policies.keys()].sort() }
  get size (): number { return this.policies.size }
  has (name: string): boolean { return this.policies.has(name) }
  get (name: string): CompiledPolicy | undefined { return this.policies.get(name) }

  /** Decides a request; an unknown policy is a 403 (never an exception). */
  async decide (policy: string, req: AuthRequest): Promise<Decision> {
    const p = this.policies.get(policy)
    if (p === undefined) return { allow: false, status: 403, policy, reason: 'unknown policy', meta: {}, authorizations: [] }
    return await decide(p, req)
  }
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
  return new PolicySet(compiled.policies, [...problems, ...compiled.problems])
}
