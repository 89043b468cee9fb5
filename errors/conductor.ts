import { ConductorError } from './base.js'
import type { ErrorCode } from './catalogue.js'

// The CLI's errors (conductor/): one class per catalogue code that code throws. Exit codes are
// the catalogue's (catalogue.ts), not the classes'.

/** A service file that cannot be read, parsed or validated. `problems` lists every one found. */
export class ServiceInvalid extends ConductorError {
  override readonly code: ErrorCode = 'CND_SERVICE_INVALID'
}
/** JSON(C) syntax error, with line and column. */
export class ServiceSyntax extends ServiceInvalid {
  override readonly code: ErrorCode = 'CND_SERVICE_SYNTAX'
}
/** An `inherit` entry points to a file that does not exist. */
export class ServiceInheritMissing extends ServiceInvalid {
  override readonly code = 'CND_SERVICE_INHERIT_MISSING'
}
/** `inherit` forms a cycle; the message names it. */
export class ServiceInheritCycle extends ServiceInvalid {
  override readonly code = 'CND_SERVICE_INHERIT_CYCLE'
}
/** No service of that name in the services directory. */
export class ServiceNotFound extends ConductorError {
  override readonly code = 'CND_SERVICE_NOT_FOUND'
}
/** A pod part (or template kind) that the service does not declare. */
export class PartNotFound extends ConductorError {
  override readonly code = 'CND_PART_NOT_FOUND'
}
/** A template exited non-zero, was killed by its timeout, or printed too much. */
export class TemplateFailed extends ConductorError {
  override readonly code: ErrorCode = 'CND_TEMPLATE_FAILED'
}
export class TemplateTimeout extends TemplateFailed {
  override readonly code = 'CND_TEMPLATE_TIMEOUT'
}
export class TemplateOutputTooLarge extends TemplateFailed {
  override readonly code = 'CND_TEMPLATE_OUTPUT_TOO_LARGE'
}
/** A pod template's output Conductor cannot put its labels on (pod-mark.ts): nothing is played. */
export class PodUnmarkable extends TemplateFailed {
  override readonly code = 'CND_TEMPLATE_POD_UNMARKABLE'
}
/** Bad command-line usage (unknown option value, missing argument). */
export class UsageError extends ConductorError {
  override readonly code = 'CND_USAGE'
}

// Reconcile, systemd, Podman, hooks and commands (issue 4).
export class SystemdFailed extends ConductorError {
  override readonly code = 'CND_SYSTEMD_FAILED'
}
export class HookFailed extends ConductorError {
  override readonly code = 'CND_HOOK_FAILED'
}
export class DeploymentFailed extends ConductorError {
  override readonly code = 'CND_DEPLOYMENT_FAILED'
}
export class DeploymentNotFound extends ConductorError {
  override readonly code = 'CND_DEPLOYMENT_NOT_FOUND'
}
export class PortsExhausted extends ConductorError {
  override readonly code = 'CND_PORTS_EXHAUSTED'
}
export class ReloadLocked extends ConductorError {
  override readonly code = 'CND_RELOAD_LOCKED'
}
export class CommandNotFound extends ConductorError {
  override readonly code = 'CND_COMMAND_NOT_FOUND'
}
export class CommandContextRefused extends ConductorError {
  override readonly code = 'CND_COMMAND_CONTEXT'
}
export class NoRunningDeployment extends ConductorError {
  override readonly code = 'CND_NO_RUNNING_DEPLOYMENT'
}

/** host.json cannot be read, parsed or validated. */
export class HostInvalid extends ConductorError {
  override readonly code: ErrorCode = 'CND_HOST_INVALID'
}
/** HostInvalid for JSON syntax errors (parseJsonc needs a class taking (message, file)). */
export class HostSyntax extends HostInvalid {
  override readonly code = 'CND_HOST_SYNTAX'
}
// Fleet placement (issue 19).
/** The pure planner was given what the loaders should have refused (an API misuse, not a file). */
export class PlacementInputInvalid extends ConductorError {
  override readonly code = 'CND_FLEET_INPUT_INVALID'
}
/** `fleet plan`'s hosts file cannot be read, parsed or validated. */
export class FleetHostsInvalid extends ConductorError {
  override readonly code: ErrorCode = 'CND_FLEET_HOSTS_INVALID'
}
/** FleetHostsInvalid for JSON syntax errors (parseJsonc needs a class taking (message, file)). */
export class FleetHostsSyntax extends FleetHostsInvalid {
  override readonly code = 'CND_FLEET_HOSTS_SYNTAX'
}
/** The hosts file says a machine runs a service the services directory does not have. */
export class FleetUnknownService extends ConductorError {
  override readonly code = 'CND_FLEET_UNKNOWN_SERVICE'
}

// Fleet service archives and their installation (issue 18).
/** A service directory that cannot be packed: a device file, FIFO or socket, a symlink leaving it. */
export class FleetPackRefused extends ConductorError {
  override readonly code = 'CND_FLEET_PACK_REFUSED'
}
/** An archive refused before anything is written: a bad entry (`..`, absolute, link outside, device...). */
export class FleetArchiveInvalid extends ConductorError {
  override readonly code: ErrorCode = 'CND_FLEET_ARCHIVE_INVALID'
}
/** Over the size or entry limit, packed or unpacked (a tar bomb). */
export class FleetArchiveTooLarge extends FleetArchiveInvalid {
  override readonly code = 'CND_FLEET_ARCHIVE_TOO_LARGE'
}
/** The archive's SHA-256 is not the one it was announced with: corrupted or tampered with in transit. */
export class FleetDigestMismatch extends FleetArchiveInvalid {
  override readonly code = 'CND_FLEET_DIGEST_MISMATCH'
}
/** A service name or version string that is not a plain name (they become directory names). */
export class FleetNameInvalid extends ConductorError {
  override readonly code = 'CND_FLEET_NAME_INVALID'
}
/** SERVICES/NAME exists but was not installed by fleet sync (an operator's own directory). */
export class FleetServiceNotManaged extends ConductorError {
  override readonly code = 'CND_FLEET_SERVICE_NOT_MANAGED'
}
/** `rollback` with no previous version kept. */
export class FleetNoPreviousVersion extends ConductorError {
  override readonly code = 'CND_FLEET_NO_PREVIOUS_VERSION'
}
/** Two pushes of one service raced: the other one's compare-and-set won. */
export class FleetPushConflict extends ConductorError {
  override readonly code = 'CND_FLEET_PUSH_CONFLICT'
}
/** The fleet's bucket holds no such service. */
export class FleetServiceUnknown extends ConductorError {
  override readonly code = 'CND_FLEET_SERVICE_UNKNOWN'
}
/** `fleet drain HOST`: the capacity ledger has no machine HOST. */
export class FleetHostUnknown extends ConductorError {
  override readonly code = 'CND_FLEET_HOST_UNKNOWN'
}
/** A service function's caller lacks service-write. */
export class FleetWriteDenied extends ConductorError {
  override readonly code = 'CND_FLEET_WRITE_DENIED'
}
/** A built-in service function's request is malformed. */
export class FleetBodyInvalid extends ConductorError {
  override readonly code = 'CND_FLEET_INPUT_INVALID_BODY'
}
/** Another process installs or rolls back the same service right now. */
export class FleetInstallLocked extends ConductorError {
  override readonly code = 'CND_FLEET_INSTALL_LOCKED'
}
/** The placement file's lock stayed held past the wait (its holder is alive). */
export class FleetPlacementLocked extends ConductorError {
  override readonly code = 'CND_FLEET_PLACEMENT_LOCKED'
}
