import { accessSync, constants as fsConstants } from 'node:fs'
import path from 'node:path'
import { PtySpawnFailed } from './errors.js'
import { killGroup } from './process.js'

// A command under a pseudo-terminal (node-pty), for interactive commands (issue 7, item 5),
// used both by the local `conductor action run -it` and by the gateway's WebSocket sessions.
// node-pty starts the program as a session leader (setsid + controlling tty), so its pid is
// its process group: killing the group takes everything it started with it. node-pty is a
// native module loaded on first use only, so nothing else pays its load time.

export interface PtyOptions {
  /** Program and arguments (argv entries: no shell parses them). */
  argv: string[]
  cwd: string
  env: Record<string, string>
  cols: number
  rows: number
  /** TERM for the program (also the terminfo name node-pty uses). */
  term: string
}

export interface PtySession {
  readonly pid: number
  write: (data: Buffer | string) => void
  resize: (cols: number, rows: number) => void
  /** Signals the whole process group; quiet when it is gone. */
  killGroup: (signal: NodeJS.Signals) => void
  onData: (listener: (data: Buffer) => void) => void
  /** Stop reading the pty (the program blocks once its terminal buffer is full), and go on. */
  pause: () => void
  resume: () => void
  /** Resolves with the exit status (128+N when killed by signal N) once the program exited and its output was read. */
  exited: Promise<number>
}

/** Exit status after the program's output has drained: the last bytes arrive just after the exit. */
const DRAIN_MS = 50

export async function spawnPty(opts: PtyOptions): Promise<PtySession> {
  const [file, ...args] = opts.argv as [string, ...string[]]
  // node-pty reports a failed execvp only as text on the terminal and exit 1: check first so
  // the caller can say what is wrong (and exit 127 like a shell).
  if (file.includes('/')) {
    try {
      accessSync(path.resolve(opts.cwd, file), fsConstants.X_OK)
    } catch (err) {
      throw new PtySpawnFailed(
        `cannot run ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not executable'}`,
        { cause: err }
      )
    }
  }
  const pty = await import('node-pty')
  let term: import('node-pty').IPty
  try {
    term = pty.spawn(file, args, {
      name: opts.term,
      cols: opts.cols,
      rows: opts.rows,
      cwd: opts.cwd,
      env: { ...opts.env, TERM: opts.term },
      encoding: null
    })
  } catch (err) {
    throw new PtySpawnFailed(`cannot run ${file}: ${(err as Error).message}`, { cause: err })
  }
  const listeners: Array<(d: Buffer) => void> = []
  let lastData = Date.now()
  term.onData(d => {
    lastData = Date.now()
    const buf = typeof d === 'string' ? Buffer.from(d) : (d as unknown as Buffer)
    for (const l of listeners) l(buf)
  })
  const exited = new Promise<number>(resolve => {
    term.onExit(({ exitCode, signal }) => {
      const status = signal !== undefined && signal !== 0 ? 128 + signal : exitCode
      // Output still in the pty's buffer arrives after the exit event: wait until it is quiet.
      const wait = (): void => {
        if (Date.now() - lastData >= DRAIN_MS) resolve(status)
        else setTimeout(wait, DRAIN_MS)
      }
      setTimeout(wait, DRAIN_MS)
    })
  })
  let done = false
  void exited.then(() => {
    done = true
  })
  return {
    pid: term.pid,
    write: data => {
      if (!done) term.write(data)
    },
    resize: (cols, rows) => {
      if (!done) {
        try {
          term.resize(cols, rows)
        } catch {
          /* exited meanwhile */
        }
      }
    },
    killGroup: signal => {
      killGroup(term.pid, signal)
    },
    onData: l => {
      listeners.push(l)
    },
    pause: () => {
      term.pause()
    },
    resume: () => {
      term.resume()
    },
    exited
  }
}
