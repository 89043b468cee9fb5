import { CATALOGUE, httpStatusOf, type ErrorCode, type ExitCode } from './catalogue.js'

// The one base of every error Conductor throws, in every folder (jose's JOSEError and undici's
// UndiciError are the models): a stable `code` from the catalogue, a message that names the
// file and the JSON path (`FILE: /json/path: reason`), and, for a file with several mistakes,
// every problem, one per line. The exit code and the HTTP status are the catalogue's.

/** One mistake in a file: printed as `FILE: /json/path: message`. */
export interface Problem {
  file?: string | undefined
  jsonPath?: string | undefined
  message: string
}

/** `FILE: /json/path: ` (each part only when known), the prefix of every located message. */
export function formatLocation(file?: string, jsonPath?: string): string {
  const parts = [file, jsonPath].filter((p): p is string => Boolean(p))
  return parts.length > 0 ? parts.join(': ') + ': ' : ''
}

/** A problem as its operator line. */
export function formatProblem(p: Problem): string {
  return formatLocation(p.file, p.jsonPath) + p.message
}

export abstract class ConductorError extends Error {
  abstract readonly code: ErrorCode
  /** The message without the file/path prefix. */
  readonly reason: string
  /** Every problem of a multi-problem error (fromProblems); empty for a single one (see allProblems). */
  problems: Problem[] = []

  constructor(
    message: string,
    readonly file?: string,
    readonly jsonPath?: string,
    options?: ErrorOptions
  ) {
    super(formatLocation(file, jsonPath) + message, options)
    this.reason = message
    this.name = new.target.name
  }

  /** Process exit code the CLI uses when this error ends a command. */
  get exitCode(): ExitCode {
    return CATALOGUE[this.code].exit
  }
  /** HTTP status the gateway answers with when this error ends a request. */
  get httpStatus(): number {
    return httpStatusOf(this.code)
  }

  /**
   * One error carrying several problems: the first one is its file, path and reason; with more
   * than one, the message is every problem on its own line.
   */
  static fromProblems<T extends ConductorError>(
    this: new (
      message: string,
      file?: string,
      jsonPath?: string
    ) => T,
    problems: Problem[]
  ): T {
    const first = problems[0]
    const err = new this(first?.message ?? 'invalid input', first?.file, first?.jsonPath)
    err.problems = problems
    if (problems.length > 1) err.message = problems.map(formatProblem).join('\n')
    return err
  }

  /** Every problem, including the single one of an error built with `new`. */
  allProblems(): Problem[] {
    if (this.problems.length > 0) return this.problems
    return [{ file: this.file, jsonPath: this.jsonPath, message: this.reason }]
  }
}
