import { spawn, type IPty } from 'node-pty'
import { binPath } from './cli.js'

// Drives the compiled CLI under a real pseudo-terminal, as a user at a terminal would: what
// it prints is read back, keys are typed as bytes (Ctrl-C is "\x03"), the window can be
// resized (the CLI gets SIGWINCH). Killed in the test's teardown if still running.

export interface PtyDriver {
  pty: IPty
  /** Everything printed so far. */
  output: () => string
  type: (text: string) => void
  /** Resolves once the output (after `from`, default: all of it) matches; rejects after timeoutMs with the output so far. */
  until: (pattern: string | RegExp, timeoutMs?: number, from?: number) => Promise<void>
  exited: Promise<{ exitCode: number; signal?: number }>
}

export function driveCli(
  t: { teardown: (fn: () => void) => void },
  args: string[],
  env: NodeJS.ProcessEnv,
  size = { cols: 80, rows: 24 }
): PtyDriver {
  const pty = spawn(process.execPath, [binPath, ...args], {
    name: 'xterm',
    cols: size.cols,
    rows: size.rows,
    env: { PATH: process.env.PATH, TERM: 'xterm', ...env } as Record<string, string>
  })
  let out = ''
  const waiters = new Set<() => void>()
  pty.onData(d => {
    out += d
    for (const w of waiters) w()
  })
  let done = false
  const exited = new Promise<{ exitCode: number; signal?: number }>(resolve =>
    pty.onExit(e => {
      done = true
      resolve(e)
    })
  )
  t.teardown(() => {
    if (!done) pty.kill('SIGKILL')
  })
  const until = async (pattern: string | RegExp, timeoutMs = 15_000, from = 0): Promise<void> => {
    const matches = (): boolean =>
      typeof pattern === 'string' ? out.slice(from).includes(pattern) : pattern.test(out.slice(from))
    if (matches()) return
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`timed out waiting for ${String(pattern)}; output so far: ${JSON.stringify(out)}`))
      }, timeoutMs)
      const check = (): void => {
        if (matches()) {
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        }
      }
      waiters.add(check)
    })
  }
  return { pty, output: () => out, type: text => pty.write(text), until, exited }
}
