// Public surface of errors/: the one error model (base class, catalogue, exit codes, HTTP error
// answers) and the formatters of file problems (JSONC syntax, zod issues).
export { ConductorError, formatLocation, formatProblem, type Problem } from './base.js'
export {
  CATALOGUE,
  EXIT,
  isErrorCode,
  httpStatusOf,
  type CatalogueEntry,
  type ErrorCode,
  type ExitCode
} from './catalogue.js'
export { errorAnswer, type ErrorAnswer } from './http.js'
export { parseJsonc } from './jsonc.js'
export { describeIssues, jsonPointer, type IssueLine } from './issues.js'
export {
  CommandContextRefused,
  CommandNotFound,
  DeploymentFailed,
  DeploymentNotFound,
  FleetArchiveInvalid,
  FleetArchiveTooLarge,
  FleetBodyInvalid,
  FleetDigestMismatch,
  FleetPushConflict,
  FleetServiceUnknown,
  FleetHostUnknown,
  FleetWriteDenied,
  FleetHostsInvalid,
  FleetHostsSyntax,
  FleetInstallLocked,
  FleetPlacementLocked,
  FleetNameInvalid,
  FleetNoPreviousVersion,
  FleetPackRefused,
  FleetServiceNotManaged,
  FleetUnknownService,
  HookFailed,
  HostInvalid,
  HostSyntax,
  NoRunningDeployment,
  PartNotFound,
  PodUnmarkable,
  PlacementInputInvalid,
  PortsExhausted,
  ReloadLocked,
  ServiceInheritCycle,
  ServiceInheritMissing,
  ServiceInvalid,
  ServiceNotFound,
  ServiceSyntax,
  SystemdFailed,
  TemplateFailed,
  TemplateOutputTooLarge,
  TemplateTimeout,
  UsageError
} from './conductor.js'
export {
  ClusterLocked,
  ClusterStateInvalid,
  NatsUnavailable,
  PeerConflict,
  PeerCredentialInvalid,
  PeerIdentityMissing,
  PeerInputInvalid,
  PeerInviteExpired,
  PeerInviteScope,
  PeerInviteUsed,
  PeerMismatch,
  PeerNotFound,
  PeerRefused,
  PeerTlsFailed,
  PeerUnreachable
} from './cluster.js'
