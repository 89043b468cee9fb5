// Public surface of policies/ (a pure decision library; of ours it imports only errors/).
export {
  PolicySet, loadPolicySet, readPolicySource, plaintextTokenWarning,
  type LoadedSource, type StalePolicy, type PolicySetInfo
} from './load.js'
export { compilePolicies, type CompileOptions, type CompiledPolicy, type PolicySource } from './compile.js'
export { decide, type AuthRequest, type Decision, type DecideOptions } from './decide.js'
export { policyFileSchema, policyJsonSchema, bearerEntrySchema, matcherSchema, JWT_ALGORITHMS, type PolicyFile, type BearerEntryFile, type MatcherFile, type JwtAlgorithm } from './schema.js'
export {
  PolicyError, PolicyInvalid, PolicySyntax, PolicyKeyInvalid, PolicyCycle, PolicyReferenceMissing, PolicyNotFound,
  JwksFetchFailed, type PolicyProblem
} from './errors.js'
export { sha256 } from './bearer.js'
export { preloadJwtLibrary, type JwtClaims } from './jwt.js'
export { JwksCache, type FetchFn } from './jwks.js'
export * as policyDefaults from './defaults.js'
