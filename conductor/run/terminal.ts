import { terminalSize } from '../model/index.js'

// The client's own terminal for `conductor action run -it`, local or remote: stdin in raw
// mode when it is a TTY (so Ctrl-C, Ctrl-D, arrows... reach the command as bytes instead of
// signalling conductor), window size changes forwarded, and everything restored on the way
// out, whatever happens. Local and remote differ only in where the bytes go (the sink).

export interface TerminalSink {
  /** Bytes typed by the user. */
  input: (data: Buffer) => void
  /** The window size changed. */
  resize: (cols: number, rows: number) => void
  /** stdin ended (not a TTY: a pipe or a file); the sink may send EOF. */
  end: () => void
}

export interface AttachedTerminal {
  /** The size to start the command with. */
  cols: number
  rows: number
  output: (data: Buffer) => void
  /** Restores the terminal and removes every listener; idempotent. */
  detach: () => void
}

/** Ctrl-C as a terminal byte: what the pty's line discipline turns into SIGINT. */
export const CTRL_C = Buffer.from([0x03])
/** Ctrl-D: end of input for a program reading a terminal in canonical mode. */
export const CTRL_D = Buffer.from([0x04])

export function attachTerminal(sink: TerminalSink): AttachedTerminal {
  const stdin = process.stdin
  const stdout = process.stdout
  const isRaw = stdin.isTTY && typeof stdin.setRawMode === 'function'
  if (isRaw) stdin.setRawMode(true)
  const size = (): { cols: number; rows: number } => terminalSize(stdout.columns, stdout.rows)
  const onData = (d: Buffer | string): void => {
    sink.input(typeof d === 'string' ? Buffer.from(d) : d)
  }
  const onEnd = (): void => {
    sink.end()
  }
  const onResize = (): void => {
    const s = size()
    sink.resize(s.cols, s.rows)
  }
  // With stdin in raw mode the terminal sends Ctrl-C as a byte; a SIGINT still comes from
  // `kill -INT` or when stdin is not a terminal: pass it on as the byte, never die of it.
  const onSigint = (): void => {
    sink.input(CTRL_C)
  }
  stdin.on('data', onData)
  stdin.on('end', onEnd)
  stdin.resume()
  process.on('SIGWINCH', onResize)
  process.on('SIGINT', onSigint)
  let detached = false
  return {
    ...size(),
    output: data => {
      stdout.write(data)
    },
    detach: () => {
      if (detached) return
      detached = true
      stdin.off('data', onData)
      stdin.off('end', onEnd)
      process.off('SIGWINCH', onResize)
      process.off('SIGINT', onSigint)
      if (isRaw) stdin.setRawMode(false)
      stdin.pause()
      // A paused stdin still holds the event loop when it is a TTY: let the process exit.
      ;(stdin as unknown as { unref?: () => void }).unref?.()
    }
  }
}
