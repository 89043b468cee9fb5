// The wire protocol of interactive remote commands (issue 7, item 5): a WebSocket opened on
// GET /.conductor/services/SERVICE/commands/NAME with the subprotocol below, after the same
// policy, claim and jti checks as the POST. Pure: no I/O, shared by the gateway and the client.
//
//   binary frames, both ways  terminal bytes (client: keystrokes to the pty; server: pty output)
//   text frames               one JSON control object each:
//     client -> server  {"type":"start","args":[...],"cols":C,"rows":R,"term":"xterm-256color"}
//                       first frame, exactly once; nothing runs before it
//                       {"type":"resize","cols":C,"rows":R}
//     server -> client  {"type":"exit","code":N[,"reason":"timeout"|"output-limit"|"gateway-stopping"]}
//                       last frame, then the server closes with 1000
//                       {"type":"error","error":"CND_...","message":"..."}, then a close
//
// Ctrl-C is the byte 0x03 in a binary frame: the pty's line discipline turns it into SIGINT
// for the command's foreground process group. Nothing else signals the command remotely,
// except the server itself (disconnect, timeout, output limit, gateway stopping: the whole
// process group).

/** WebSocket subprotocol; a later incompatible protocol gets another name. */
export const INTERACTIVE_SUBPROTOCOL = 'conductor.tty.v1'
/** Window sizes outside this are refused (a bogus size would only confuse the program). */
export const MAX_TERMINAL_SIZE = 4096
/** TERM values are passed into the command's environment: keep them plain. */
export const TERM_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/
export const DEFAULT_TERM = 'xterm-256color'
/** Limits on arguments, the same as the POST body's (gateway/commands.ts). */
export const MAX_ARGS = 256
export const MAX_ARG_CHARS = 4096
/** Exit status reported when a remote command outlives its timeout_sec (as timeout(1) does). */
export const TIMEOUT_EXIT = 124
/**
 * Exit status reported when a remote command printed more than its max_output_bytes: 128 +
 * SIGPIPE, what a command gets when the reader of its output stops (`cmd | head -c N`).
 */
export const OUTPUT_LIMIT_EXIT = 141

/** Why the gateway stopped a command (the `reason` of its last frame). */
export type ExitReason = 'timeout' | 'output-limit' | 'gateway-stopping'
const EXIT_REASONS: ReadonlySet<string> = new Set<ExitReason>(['timeout', 'output-limit', 'gateway-stopping'])

/** The status the client gets: a timeout and the output limit have their own, whatever signal ended the group. */
export function exitStatusFor(reason: ExitReason | undefined, status: number): number {
  if (reason === 'timeout') return TIMEOUT_EXIT
  if (reason === 'output-limit') return OUTPUT_LIMIT_EXIT
  return status
}

export type ClientControl =
  | { type: 'start'; args: string[]; cols: number; rows: number; term: string }
  | { type: 'resize'; cols: number; rows: number }

export type ServerControl =
  | { type: 'exit'; code: number; reason?: ExitReason }
  | { type: 'error'; error: string; message?: string }

export interface ArgLimits {
  maxArgs: number
  maxArgChars: number
}

/** A control frame from the client, or a reason why it is refused. */
export function parseClientControl(
  text: string,
  limits: ArgLimits = { maxArgs: MAX_ARGS, maxArgChars: MAX_ARG_CHARS }
): ClientControl | { invalid: string } {
  const v = parseObject(text)
  if (v === undefined) return { invalid: 'a text frame must be one JSON object' }
  if (v.type === 'resize') {
    const size = parseSize(v)
    return 'invalid' in size ? size : { type: 'resize', ...size }
  }
  if (v.type === 'start') {
    const size = parseSize(v)
    if ('invalid' in size) return size
    const args = v.args ?? []
    if (!Array.isArray(args) || !args.every(a => typeof a === 'string'))
      return { invalid: 'args must be an array of strings' }
    if (args.length > limits.maxArgs) return { invalid: `at most ${limits.maxArgs} arguments` }
    if (args.some(a => a.length > limits.maxArgChars))
      return { invalid: `an argument is at most ${limits.maxArgChars} characters` }
    const term = v.term ?? DEFAULT_TERM
    if (typeof term !== 'string' || !TERM_PATTERN.test(term))
      return { invalid: 'term must be a plain terminal name such as xterm-256color' }
    return { type: 'start', args: args as string[], ...size, term }
  }
  return { invalid: 'unknown control frame type' }
}

/** A control frame from the server; undefined when it is not one we know (ignored by clients). */
export function parseServerControl(text: string): ServerControl | undefined {
  const v = parseObject(text)
  if (v?.type === 'exit' && Number.isInteger(v.code)) {
    return typeof v.reason === 'string' && EXIT_REASONS.has(v.reason)
      ? { type: 'exit', code: v.code as number, reason: v.reason as ExitReason }
      : { type: 'exit', code: v.code as number }
  }
  if (v?.type === 'error' && typeof v.error === 'string')
    return { type: 'error', error: v.error, ...(typeof v.message === 'string' ? { message: v.message } : {}) }
  return undefined
}

export function encodeControl(c: ClientControl | ServerControl): string {
  return JSON.stringify(c)
}

/** A terminal's size, clamped to what the protocol accepts (a terminal may report 0 columns). */
export function terminalSize(cols: number | undefined, rows: number | undefined): { cols: number; rows: number } {
  const clamp = (n: number | undefined, fallback: number): number =>
    n !== undefined && Number.isInteger(n) && n >= 1 ? Math.min(n, MAX_TERMINAL_SIZE) : fallback
  return { cols: clamp(cols, 80), rows: clamp(rows, 24) }
}

function parseSize(v: Record<string, unknown>): { cols: number; rows: number } | { invalid: string } {
  const ok = (n: unknown): n is number =>
    Number.isInteger(n) && (n as number) >= 1 && (n as number) <= MAX_TERMINAL_SIZE
  if (!ok(v.cols) || !ok(v.rows)) return { invalid: `cols and rows must be integers from 1 to ${MAX_TERMINAL_SIZE}` }
  return { cols: v.cols, rows: v.rows }
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text)
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** Where the gateway serves remote commands: PREFIX/SERVICE/commands/NAME (POST, or a WebSocket for -it). */
export const COMMANDS_PREFIX = '/.conductor/services'
