import type { CommandInvocation } from './command.js'
import { CommandNotFound } from '../../errors/index.js'
import { CTRL_D, attachTerminal } from './terminal.js'
import { DEFAULT_TERM, TERM_PATTERN } from '../model/index.js'

// `conductor action run -it SERVICE NAME` (and `run -s SERVICE -it NAME`) on this machine:
// the command runs under a pty (cgi/pty-session.ts) wired to the user's terminal. Ctrl-C is a
// byte the pty turns into SIGINT for the command; conductor itself does not stop. The exit
// status of the command is conductor's.

export async function runInteractiveLocal(inv: CommandInvocation): Promise<number> {
  const { spawnPty, PtySpawnFailed } = await import('../../cgi/index.js')
  const term = process.env.TERM !== undefined && TERM_PATTERN.test(process.env.TERM) ? process.env.TERM : DEFAULT_TERM
  let session: Awaited<ReturnType<typeof spawnPty>> | undefined
  const pending: Buffer[] = []
  const tty = attachTerminal({
    input: d => {
      if (session !== undefined) session.write(d)
      else pending.push(d)
    },
    resize: (cols, rows) => session?.resize(cols, rows),
    end: () => session?.write(CTRL_D)
  })
  // The user's terminal must come back even when the conductor process is told to stop.
  const onTerm = (): void => {
    session?.killGroup('SIGHUP')
    tty.detach()
  }
  process.once('SIGTERM', onTerm)
  process.once('SIGHUP', onTerm)
  try {
    try {
      session = await spawnPty({ argv: inv.argv, cwd: inv.cwd, env: inv.env, cols: tty.cols, rows: tty.rows, term })
    } catch (err) {
      if (err instanceof PtySpawnFailed)
        throw new CommandNotFound(`${err.message}; check that it exists and is executable`)
      throw err
    }
    session.onData(tty.output)
    for (const d of pending.splice(0)) session.write(d)
    return await session.exited
  } finally {
    process.off('SIGTERM', onTerm)
    process.off('SIGHUP', onTerm)
    tty.detach()
  }
}
