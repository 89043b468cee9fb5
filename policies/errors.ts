// Policy errors (leaf folder: imports nothing of ours). Every error has a stable `code`
// (CND_POLICY_*) and a message `FILE: /json/path: reason`. Secrets never appear in them.

export interface PolicyProblem { file?: string | undefined, jsonPath?: string | undefined, message: string }

export class PolicyError extends Error {
  readonly code: string = 'CND_POLICY'
  /** The message without the file/path prefix. */
  readonly reason: string
  constructor (message: string, readonly file?: string, readonly jsonPath?: string, options?: ErrorOptions) {
    super(formatLocation(file, jsonPath) + message, options)
    this.reason = message
    this.name = new.target.name
  }
}

export function formatLocation (file?: string, jsonPath?: string): string {
  const parts = [file, jsonPath].filter((p): p is string => Boolean(p))
  return parts.length > 0 ? parts.join(': ') + ': ' : ''
}

/** A policy file that cannot be read, parsed, validated or compiled; `problems` lists every one. */
export class PolicyInvalid extends PolicyError {
  override readonly code: string = 'CND_POLICY_INVALID'
  problems: PolicyProblem[] = []

  static fromProblems (problems: PolicyProblem[]): PolicyInvalid {
    const first = problems[0] ?? { message: 'invalid policy' }
    const err = new PolicyInvalid(first.message, first.file, first.jsonPath)
    err.problems = problems
    if (problems.length > 1) err.message = problems.map(p => formatLocation(p.file, p.jsonPath) + p.message).join('\n')
    return err
  }

  allProblems (): PolicyProblem[] {
    return this.problems.length > 0 ? this.problems : [{ file: this.file, jsonPath: this.jsonPath, message: this.reason }]
  }
}
/** JSON(C) syntax error, with line and column. */
export class PolicySyntax extends PolicyInvalid { override readonly code = 'CND_POLICY_SYNTAX' }
/** A key (PEM, JWK, DER) that cannot be imported, or whose type does not fit jwt_alg. */
export class PolicyKeyInvalid extends PolicyInvalid { override readonly code = 'CND_POLICY_KEY_INVALID' }
/** `policy` clauses referencing each other in a loop. */
export class PolicyCycle extends PolicyInvalid { override readonly code = 'CND_POLICY_CYCLE' }
/** A `policy` clause names a policy that does not exist. */
export class PolicyReferenceMissing extends PolicyInvalid { override readonly code = 'CND_POLICY_REFERENCE_MISSING' }
/** No policy file of that name. */
export class PolicyNotFound extends PolicyError { override readonly code = 'CND_POLICY_NOT_FOUND' }
/** A JWKS URL could not be fetched or did not hold a usable key set. */
export class JwksFetchFailed extends PolicyError { override readonly code = 'CND_POLICY_JWKS_FETCH_FAILED' }
