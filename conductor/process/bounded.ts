import { killGroup } from '../../cgi/index.js'
import { KILL_GRACE_MS } from '../model/index.js'

// Runs a program with a hard time limit and output cap. The child leads its own process group
// (detached), so a timeout kills the whole group: a template that runs `sleep 1000 | cat` or
// forks a helper leaves nothing behind (seed README TODO: "timeouts on templates").

export interface BoundedRun {
  file: string
  args?: string[] | undefined
  cwd: string
  env: Record<string, string>
  timeoutMs: number
  maxOutputBytes: number
  /** Bytes of stderr kept for error messages. */
  stderrTailBytes: number
  input?: string | undefined
  signal?: AbortSignal | undefined
}

export interface BoundedResult {
  stdout: string
  stderrTail: string
  exitCode: number | undefined
  signal: string | undefined
  timedOut: boolean
  outputTooLarge: boolean
  /** Spawning failed (ENOENT, EACCES...). */
  spawnError: string | undefined
  durationMs: number
}

export async function runBounded(opts: BoundedRun): Promise<BoundedResult> {
  const started = performance.now()
  // Loaded on first use: most commands never spawn anything and execa costs ~100 ms to load.
  const { execa } = await import('execa')
  const child = execa(opts.file, opts.args ?? [], {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: false,
    detached: true,
    reject: false,
    stripFinalNewline: false,
    input: opts.input,
    stdin: opts.input === undefined ? 'ignore' : 'pipe',
    buffer: { stdout: true, stderr: false },
    maxBuffer: { stdout: opts.maxOutputBytes },
    cancelSignal: opts.signal
  })
  let stderrTail = ''
  child.stderr?.setEncoding('utf8')
  child.stderr?.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-opts.stderrTailBytes)
  })

  let timedOut = false
  let killTimer: NodeJS.Timeout | undefined
  const timer = setTimeout(() => {
    timedOut = true
    killGroup(child.pid, 'SIGTERM')
    killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS)
  }, opts.timeoutMs)

  const result = await child
  clearTimeout(timer)
  if (killTimer !== undefined) clearTimeout(killTimer)
  const outputTooLarge = result.isMaxBuffer === true
  // Whatever the outcome, nothing of a failed run may survive it.
  if (timedOut || outputTooLarge || result.failed) killGroup(child.pid, 'SIGKILL')
  const spawnError =
    result.exitCode === undefined && result.signal === undefined && !timedOut && !outputTooLarge
      ? (result.originalMessage ?? result.shortMessage)
      : undefined
  return {
    stdout: typeof result.stdout === 'string' ? result.stdout : '',
    stderrTail,
    exitCode: result.exitCode,
    signal: result.signal ?? undefined,
    timedOut,
    outputTooLarge,
    spawnError,
    durationMs: performance.now() - started
  }
}
