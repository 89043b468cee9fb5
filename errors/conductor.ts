// One catalogue of the CLI's errors (fastify lib/errors.js, jose util/errors.ts style):
// every error has a stable `code` scripts and tests match on, and a message that names
// the file and the JSON path so an operator can fix the file without guessing.

export class ConductorError extends Error {
  readonly code: string = 'CND_ERR'
  /** Process exit code the CLI uses when this error ends a command. */
  readonly exitCode: number = 1
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

export interface Problem { file?: string | undefined, jsonPath?: string | undefined, message: string }

/** A service file that cannot be read, parsed or validated. `problems` lists every one found. */
export class ServiceInvalid extends ConductorError {
  override readonly code: string = 'CND_SERVICE_INVALID'
  override readonly exitCode = 3
  problems: Problem[] = []

  /** One error carrying several problems, each printed as `FILE: PATH: reason` on its own line. */
  static fromProblems (problems: Problem[]): ServiceInvalid {
    const first = problems[0] ?? { message: 'invalid service' }
    const err = new ServiceInvalid(first.message, first.file, first.jsonPath)
    err.problems = problems
    if (problems.length > 1) err.message = problems.map(p => formatLocation(p.file, p.jsonPath) + p.message).join('\n')
    return err
  }

  /** Every problem, including the single one of an error built with `new`. */
  allProblems (): Problem[] {
    return this.problems.length > 0 ? this.problems : [{ file: this.file, jsonPath: this.jsonPath, message: this.reason }]
  }
}
/** JSON(C) syntax error, with line and column. */
export class ServiceSyntax extends ServiceInvalid {
  override readonly code: string = 'CND_SERVICE_SYNTAX'
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
  override readonly exitCode = 4
}
/** A pod part (or template kind) that the service does not declare. */
export class PartNotFound extends ConductorError {
  override readonly code = 'CND_PART_NOT_FOUND'
  override readonly exitCode = 4
}
/** A template exited non-zero, was killed by its timeout, or printed too much. */
export class TemplateFailed extends ConductorError {
  override readonly code: string = 'CND_TEMPLATE_FAILED'
  override readonly exitCode = 5
}
export class TemplateTimeout extends TemplateFailed {
  override readonly code = 'CND_TEMPLATE_TIMEOUT'
}
export class TemplateOutputTooLarge extends TemplateFailed {
  override readonly code = 'CND_TEMPLATE_OUTPUT_TOO_LARGE'
}
/** Bad command-line usage (unknown option value, missing argument). */
export class UsageError extends ConductorError {
  override readonly code = 'CND_USAGE'
  override readonly exitCode = 2
}

// Reconcile, systemd, Podman, hooks and commands (issue 4).
export class SystemdFailed extends ConductorError {
  override readonly code = 'CND_SYSTEMD_FAILED'
  override readonly exitCode = 6
}
export class HookFailed extends ConductorError {
  override readonly code = 'CND_HOOK_FAILED'
  override readonly exitCode = 7
}
export class DeploymentFailed extends ConductorError {
  override readonly code = 'CND_DEPLOYMENT_FAILED'
  override readonly exitCode = 6
}
export class DeploymentNotFound extends ConductorError {
  override readonly code = 'CND_DEPLOYMENT_NOT_FOUND'
  override readonly exitCode = 4
}
export class PortsExhausted extends ConductorError {
  override readonly code = 'CND_PORTS_EXHAUSTED'
}
export class ReloadLocked extends ConductorError {
  override readonly code = 'CND_RELOAD_LOCKED'
  override readonly exitCode = 8
}
export class CommandNotFound extends ConductorError {
  override readonly code = 'CND_COMMAND_NOT_FOUND'
  override readonly exitCode = 4
}
export class CommandContextRefused extends ConductorError {
  override readonly code = 'CND_COMMAND_CONTEXT'
  override readonly exitCode = 2
}
export class NoRunningDeployment extends ConductorError {
  override readonly code = 'CND_NO_RUNNING_DEPLOYMENT'
  override readonly exitCode = 4
}

/** Exit codes, in one place so the README and the code agree. */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  invalidInput: 3,
  notFound: 4,
  templateFailed: 5,
  /** Caddy unreachable or refused a change (CND_CADDY_*); same code as systemFailed. */
  caddy: 6,
  /** systemd or a deployment failed (CND_SYSTEMD_FAILED, CND_DEPLOYMENT_FAILED). */
  systemFailed: 6,
  /** A hook failed (CND_HOOK_FAILED). */
  hookFailed: 7,
  /** Another reconcile holds the lock (CND_RELOAD_LOCKED). */
  locked: 8
} as const

/** host.json cannot be read, parsed or validated. */
export class HostInvalid extends ConductorError {
  override readonly code: string = 'CND_HOST_INVALID'
  override readonly exitCode = 3
}
/** HostInvalid for JSON syntax errors (parseJsonc needs a class taking (message, file)). */
export class HostSyntax extends HostInvalid {
  override readonly code = 'CND_HOST_SYNTAX'
}
/**
 * A Caddy admin API failure ending a command: same `code` as the caddy/ error it wraps
 * (CND_CADDY_UNREACHABLE, CND_CADDY_HTTP...), exit 6 so scripts can tell "Caddy is down".
 */
export class CaddyFailed extends ConductorError {
  override readonly code: string
  override readonly exitCode = 6
  constructor (message: string, code: string, options?: ErrorOptions) {
    super(message, undefined, undefined, options)
    this.code = code
  }
}

/** A listener the gateway was told to open cannot be opened (address in use, no permission). */
export class ListenFailed extends ConductorError {
  override readonly code = 'CND_LISTEN_FAILED'
}

// Fleet placement (issue 19).
/** The pure planner was given what the loaders should have refused (an API misuse, not a file). */
export class PlacementInputInvalid extends ConductorError {
  override readonly code = 'CND_FLEET_INPUT_INVALID'
  override readonly exitCode = 3
}
/** `fleet plan`'s hosts file cannot be read, parsed or validated. */
export class FleetHostsInvalid extends ConductorError {
  override readonly code: string = 'CND_FLEET_HOSTS_INVALID'
  override readonly exitCode = 3
}
/** FleetHostsInvalid for JSON syntax errors (parseJsonc needs a class taking (message, file)). */
export class FleetHostsSyntax extends FleetHostsInvalid {
  override readonly code = 'CND_FLEET_HOSTS_SYNTAX'
}
/** The hosts file says a machine runs a service the services directory does not have. */
export class FleetUnknownService extends ConductorError {
  override readonly code = 'CND_FLEET_UNKNOWN_SERVICE'
  override readonly exitCode = 4
}

// Fleet service archives and their installation (issue 18).
/** A service directory that cannot be packed: a device file, FIFO or socket, a symlink leaving it. */
export class FleetPackRefused extends ConductorError {
  override readonly code = 'CND_FLEET_PACK_REFUSED'
  override readonly exitCode = 3
}
/** An archive refused before anything is written: a bad entry (`..`, absolute, link outside, device...). */
export class FleetArchiveInvalid extends ConductorError {
  override readonly code: string = 'CND_FLEET_ARCHIVE_INVALID'
  override readonly exitCode = 3
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
  override readonly exitCode = 3
}
/** SERVICES/NAME exists but was not installed by fleet sync (an operator's own directory). */
export class FleetServiceNotManaged extends ConductorError {
  override readonly code = 'CND_FLEET_SERVICE_NOT_MANAGED'
}
/** `rollback` with no previous version kept. */
export class FleetNoPreviousVersion extends ConductorError {
  override readonly code = 'CND_FLEET_NO_PREVIOUS_VERSION'
  override readonly exitCode = 4
}
/** Another process installs or rolls back the same service right now. */
export class FleetInstallLocked extends ConductorError {
  override readonly code = 'CND_FLEET_INSTALL_LOCKED'
  override readonly exitCode = 8
}
