// Public surface of conductor/model/.
export {
  DEFAULT_CADDY_LISTEN,
  DEFAULT_GATEWAY_LISTEN,
  DEFAULT_GATEWAY_METRICS_LISTEN,
  DEFAULT_HOOK_TIMEOUT_SEC,
  DEFAULT_REMOTE_MAX_OUTPUT_BYTES,
  DEFAULT_REMOTE_TIMEOUT_SEC,
  DEFAULT_TEMPLATE_MAX_OUTPUT_BYTES,
  DEFAULT_TEMPLATE_TIMEOUT_SEC,
  KILL_GRACE_MS,
  MAX_REPLICAS,
  NAME_PATTERN,
  PEER_ID_PATTERN,
  POD_LISTING_INTERVAL_SEC,
  RECONCILE_CONCURRENCY,
  SERVICE_FILE_NAME,
  STDERR_TAIL_BYTES
} from './defaults.js'
export { FUNCTIONS_PREFIX, type FunctionInfo, describeFunction, listFunctions, literalSegments } from './functions.js'
export { type HostConfig, SCOPES, type Scope, caddyAdminListen, loadHostConfig } from './host.js'
export { isCaddyListenAddress, listenPort } from './caddy-address.js'
export {
  CADDY_UNIT,
  FLEET_SYNC_STATUS_FILE,
  FLEET_SYNC_STATUS_STALE_MS,
  GATEWAY_UNIT,
  NATS_UNIT,
  PEERS_SERVICE,
  SYNC_UNIT,
  deploymentConfigUnit,
  deploymentId,
  deploymentUnit,
  functionId,
  newDeploymentSuffix,
  partOfDeployment,
  serviceConfigUnit,
  serviceUnit
} from './names.js'
export {
  COMMANDS_PREFIX,
  DEFAULT_TERM,
  type ExitReason,
  INTERACTIVE_SUBPROTOCOL,
  MAX_ARGS,
  MAX_ARG_CHARS,
  OUTPUT_LIMIT_EXIT,
  type ServerControl,
  TERM_PATTERN,
  TIMEOUT_EXIT,
  exitStatusFor,
  encodeControl,
  parseClientControl,
  parseServerControl,
  terminalSize
} from './remote-protocol.js'
export { type RootOverrides, type Roots, resolveRoots } from './roots.js'
export type { HOOK_EVENTS } from './service-schema.js'
export {
  type Command,
  type Pod,
  type Service,
  type ServiceEntry,
  type ServiceFunction,
  loadAllServices,
  loadService,
  resolveService
} from './service.js'
export { findPod, templateFile } from './template-target.js'
export { type ValidationCache, openValidationCache } from './validation-cache.js'
export {
  type Variables,
  baseVariables,
  commandVariables,
  deploymentVariables,
  functionVariables,
  serviceVariables
} from './variables.js'
export { readVersion } from './version.js'
export { type ScopeInfo, resolveScope } from './scope.js'
export { type FleetView, fleetPlacementFile, readFleetView, variableSuffix } from './fleet-view.js'
export {
  type Listen,
  type PodSocket,
  dialAddress,
  listenAddress,
  parseListen,
  socketDir,
  socketUnit,
  socketUnitService
} from './sockets.js'
export { loadModelSchemas, serviceJsonSchema } from './lazy.js'
