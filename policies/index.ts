// Public surface of policies/ (a pure decision library; of ours it imports only errors/). Light:
// the zod schema of policy files loads only when a file's content must be validated (load.ts),
// or on the calls below.
import type * as Schema from './schema.js'
export {
  PolicySet,
  loadPolicySet,
  readPolicySource,
  plaintextTokenWarning,
  type LoadedSource,
  type StalePolicy,
  type PolicySetInfo,
  type ValidatedContents
} from './load.js'
export { compilePolicies, type CompileOptions, type CompiledPolicy, type PolicySource } from './compile.js'
export { decide, type AuthRequest, type Decision, type DecideOptions } from './decide.js'
export { JWT_ALGORITHMS, type JwtAlgorithm } from './shape.js'
export type { PolicyFile, BearerEntryFile, MatcherFile } from './schema.js'
export {
  PolicyError,
  PolicyInvalid,
  PolicySyntax,
  PolicyKeyInvalid,
  PolicyCycle,
  PolicyReferenceMissing,
  PolicyNotFound,
  JwksFetchFailed,
  type PolicyProblem
} from './errors.js'
export { sha256 } from './bearer.js'
export { preloadJwtLibrary, type JwtClaims } from './jwt.js'
export { JwksCache, type FetchFn } from './jwks.js'
export * as policyDefaults from './defaults.js'

/** The zod schemas of policy files (policyFileSchema, bearerEntrySchema, matcherSchema), loaded on this call. */
export async function loadPolicySchemas(): Promise<typeof Schema> {
  return await import('./schema.js')
}

/** JSON Schema of policy files for editors (`conductor schema policy`); zod loads on this call only. */
export async function policyJsonSchema(): Promise<unknown> {
  return (await loadPolicySchemas()).policyJsonSchema()
}
