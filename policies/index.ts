// Public surface of policies/ (a pure decision library; of ours it imports only errors/). Light:
// the zod schema of policy files loads only when a file's content must be validated (load.ts),
// or on the calls of lazy.ts.
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
export { loadPolicySchemas, policyJsonSchema } from './lazy.js'
