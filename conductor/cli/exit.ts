import { CATALOGUE, ConductorError, type ErrorCode } from '../../errors/index.js'

// How a command ends other than by succeeding. A command never sets the exit code itself: it
// throws, and runCli (program.ts reportError) is the one place that turns what it threw into
// the exit code: an error's from the catalogue, an ExitStatus's as computed.

/**
 * A command whose output already says what went wrong (INVALID rows, ✗ lines, problems on
 * stderr) ends with this: nothing more is printed, the exit code is the catalogue's for `code`.
 */
export class Reported extends ConductorError {
  constructor(override readonly code: ErrorCode) {
    super(CATALOGUE[code].description)
  }
}

/** The exit status of a program the command ran for the operator (`conductor run`), passed on as is. */
export class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit status ${status}`)
    this.name = 'ExitStatus'
  }
}

/** Ends the command with a program's exit status: 0 returns, anything else throws ExitStatus. */
export function exitWith(status: number): void {
  if (status !== 0) throw new ExitStatus(status)
}
