// Public surface of cgi/: RFC 3875 CGI, http-stdio and warm worker pools.
export { FunctionRunner, type FunctionIsolation, type ServeResult, type RunnerStats } from './runner.js'
export { buildCgiEnv, checkPassable, splitPath } from './cgi-env.js'
export { CgiHeaderParser, parseHeaderBlock, type CgiHead, type CgiResponseKind } from './cgi-response.js'
export type { FunctionSpec, FunctionFormat, FunctionMode, RequestInfo } from './types.js'
export * as defaults from './defaults.js'
export {
  CgiError,
  CgiBadGateway,
  CgiBadRequest,
  CgiHeaderInvalid,
  CgiHeaderTooLarge,
  CgiSpawnFailed,
  CgiTimeout,
  CgiBusy,
  CgiBodyTooLarge,
  CgiClosed,
  CgiClientGone,
  CgiLimitsUnavailable,
  PtySpawnFailed
} from './errors.js'
export {
  CGROUP_DIRECTIVES,
  RLIMIT_DIRECTIVES,
  parseFunctionDirectives,
  type DirectiveProblem,
  type FunctionLimits,
  type Rlimit
} from './limits.js'
export { functionsSlice, type SystemdManager } from './scope.js'
export { Spawner, findSpawnerBinary } from './spawner.js'
export { spawnPty, type PtyOptions, type PtySession } from './pty-session.js'
export { killGroup, isProcessAlive } from './process.js'
