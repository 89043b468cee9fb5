import { ConductorError, type ErrorCode, type Problem } from '../errors/index.js'

// Policy errors: codes CND_POLICY_INVALID and its kin (errors/catalogue.ts), messages
// `FILE: /json/path: reason`, several problems one per line (the base class). Secrets never
// appear in them.

export type PolicyProblem = Problem

export abstract class PolicyError extends ConductorError {}

/** A policy file that cannot be read, parsed, validated or compiled; `problems` lists every one. */
export class PolicyInvalid extends PolicyError {
  override readonly code: ErrorCode = 'CND_POLICY_INVALID'
}
/** JSON(C) syntax error, with line and column. */
export class PolicySyntax extends PolicyInvalid {
  override readonly code = 'CND_POLICY_SYNTAX'
}
/** A key (PEM, JWK, DER) that cannot be imported, or whose type does not fit jwt_alg. */
export class PolicyKeyInvalid extends PolicyInvalid {
  override readonly code = 'CND_POLICY_KEY_INVALID'
}
/** `policy` clauses referencing each other in a loop. */
export class PolicyCycle extends PolicyInvalid {
  override readonly code = 'CND_POLICY_CYCLE'
}
/** A `policy` clause names a policy that does not exist. */
export class PolicyReferenceMissing extends PolicyInvalid {
  override readonly code = 'CND_POLICY_REFERENCE_MISSING'
}
/** No policy file of that name. */
export class PolicyNotFound extends PolicyError {
  override readonly code = 'CND_POLICY_NOT_FOUND'
}
/** A JWKS URL could not be fetched or did not hold a usable key set. */
export class JwksFetchFailed extends PolicyError {
  override readonly code = 'CND_POLICY_JWKS_FETCH_FAILED'
}
