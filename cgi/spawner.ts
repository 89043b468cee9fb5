import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { existsSync, rmSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { PassThrough, Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { CgiSpawnFailed } from './errors.js'

// Client of conductor-spawner (spawner/conductor-spawner.c), a tiny fork server. Forking the
// gateway itself per CGI request costs a page-table copy of a large Node heap; asking a 20 KB
// process to fork costs what it costs lighttpd. The connection to the spawner becomes the
// script's stdin and stdout. Optional: without the binary, single-shot CGI uses child_process.

/** The compiled helper next to this module (the bundle's folder, dist/conductor/), or $CONDUCTOR_CGI_SPAWNER. */
export function findSpawnerBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.CONDUCTOR_CGI_SPAWNER === '') return undefined
  const candidates = [
    env.CONDUCTOR_CGI_SPAWNER,
    path.join(path.dirname(fileURLToPath(import.meta.url)), 'conductor-spawner')
  ]
  return candidates.find((c): c is string => c !== undefined && existsSync(c))
}

/** What invokeCgi needs of a process: the ChildProcess surface it uses. */
export interface SpawnedCgi extends EventEmitter {
  stdin: Writable
  stdout: PassThrough
  readonly pid: number | undefined
  exitCode: number | null
  signalCode: NodeJS.Signals | null
}

export interface SpawnerOptions {
  /** Arguments after the socket path (`--rlimit NAME=SOFT:HARD`...). */
  args?: string[] | undefined
  /**
   * A command that execs the fork server, asked again at each start (the binary and its
   * arguments are appended): `systemd-run --scope ...` puts it in a scope of its own.
   */
  wrap?: (() => string[]) | undefined
  /** Environment of the fork server (and of its wrapper); default the gateway's. */
  env?: NodeJS.ProcessEnv | undefined
  /** File name of its socket in socketDir (default spawner.sock). */
  socketName?: string | undefined
  /** Runs once when the fork server is stopped for good (stop()). */
  onStop?: (() => Promise<void>) | undefined
  /** What failed, in an error message (default: the program started). */
  describe?: string | undefined
}

/** Longest wait between two attempts to start a fork server that fails at start. */
const MAX_RETRY_MS = 60_000

export class Spawner {
  private proc: ChildProcess | undefined
  private ready: Promise<void> | undefined
  private stopped = false
  /** True once the fork server accepts connections, until it exits. */
  private listening = false
  /** Starts that failed in a row; the next attempt waits 2^n seconds (at most a minute). */
  private failures = 0
  private lastError: Error | undefined
  private retryAt = 0
  readonly socketPath: string

  constructor(
    private readonly binary: string,
    socketDir: string,
    private readonly options: SpawnerOptions = {}
  ) {
    this.socketPath = path.join(socketDir, options.socketName ?? 'spawner.sock')
  }

  /**
   * Starts the fork server (once) and resolves when it accepts connections. Rejects with what
   * it printed when it cannot start; until its next attempt is due, at once with that error.
   */
  async start(): Promise<void> {
    if (this.stopped) return
    if (
      this.proc !== undefined &&
      this.proc.exitCode === null &&
      this.proc.signalCode === null &&
      this.ready !== undefined
    ) {
      await this.ready
      return
    }
    if (this.lastError !== undefined && Date.now() < this.retryAt) throw this.lastError
    rmSync(this.socketPath, { force: true })
    const [command, ...pre] = [...(this.options.wrap?.() ?? []), this.binary]
    // What it prints when it cannot start (systemd-run's reason, a limit it cannot set) makes
    // the error message; it still reaches the gateway's stderr (the journal).
    let stderr = ''
    const proc = spawn(command!, [...pre, this.socketPath, ...(this.options.args ?? [])], {
      stdio: ['ignore', 'inherit', 'pipe'],
      env: this.options.env ?? process.env
    })
    proc.stderr!.on('data', (d: Buffer) => {
      process.stderr.write(d)
      stderr = (stderr + d.toString()).slice(-2048)
    })
    const spawnError = new Promise<Error>(resolve => proc.once('error', err => resolve(err)))
    this.proc = proc
    proc.once('exit', () => {
      if (this.proc !== proc) return
      const wasListening = this.listening
      this.listening = false
      this.proc = undefined
      this.ready = undefined
      // Requests fall back to child_process meanwhile (unless the function needs this one); the
      // fork server comes back in a second.
      if (!this.stopped && wasListening)
        setTimeout(() => {
          this.start().catch(() => {})
        }, 1000).unref()
    })
    const what =
      this.options.describe ?? (command === this.binary ? this.binary : `${command} (starting ${this.binary})`)
    // One that fails at start is tried again after 1, 2, 4... s (at most a minute), not in a loop.
    const failed = (reason: string): Error => {
      this.failures++
      const delay = Math.min(MAX_RETRY_MS, 1000 * 2 ** (this.failures - 1))
      this.retryAt = Date.now() + delay
      this.lastError = new CgiSpawnFailed(`${what} ${reason}`)
      if (!this.stopped)
        setTimeout(() => {
          this.start().catch(() => {})
        }, delay).unref()
      return this.lastError
    }
    this.ready = (async () => {
      for (let i = 0; i < 1000; i++) {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          // Its last words may still be in the pipe.
          await new Promise(resolve => setTimeout(resolve, 20))
          const said = stderr.trim()
          const status = String(proc.exitCode ?? proc.signalCode)
          throw failed(`exited at start${said !== '' ? `: ${said}` : ` with status ${status}`}`)
        }
        if (await canConnect(this.socketPath)) {
          if (this.proc === proc) this.listening = true
          this.failures = 0
          this.lastError = undefined
          return
        }
        const tick = new Promise<undefined>(resolve => setTimeout(() => resolve(undefined), 10))
        const err = await Promise.race([spawnError, tick])
        if (err !== undefined) throw failed(`could not be started: ${err.message}`)
      }
      proc.kill('SIGKILL')
      throw failed(`did not listen on ${this.socketPath} within 10 s`)
    })()
    await this.ready
  }

  /** Why the last start failed, while its next attempt is not due. */
  get startError(): Error | undefined {
    return this.lastError
  }

  /** Listening: requests and workers may use it (before that they start with child_process). */
  get isRunning(): boolean {
    return this.listening && this.proc !== undefined && this.proc.exitCode === null
  }

  /** Starts `exec` through the spawner; the result behaves like a ChildProcess for invokeCgi. */
  spawn(exec: string[], cwd: string, env: Record<string, string>, stderrAsStdout: boolean): SpawnedCgi {
    // Encoded first: a frame that cannot be sent throws before a connection is opened.
    const frame = encodeFrame(exec, cwd, env, stderrAsStdout)
    const sock = net.connect({ path: this.socketPath, allowHalfOpen: true })
    const stdout = new PassThrough()
    let pid: number | undefined
    let pidBuf = Buffer.alloc(0)
    const ev = new EventEmitter() as SpawnedCgi
    Object.defineProperty(ev, 'pid', { get: () => pid })
    ev.exitCode = null
    ev.signalCode = null
    ev.stdout = stdout
    ev.stdin = new Writable({
      write(chunk: Buffer, _enc, cb) {
        sock.write(chunk, err => cb(err ?? null))
      },
      final(cb) {
        sock.end()
        cb()
      }
    })
    sock.write(frame)
    sock.on('data', (chunk: Buffer) => {
      if (pid === undefined) {
        pidBuf = Buffer.concat([pidBuf, chunk])
        if (pidBuf.length < 4) return
        pid = pidBuf.readUInt32LE(0)
        chunk = pidBuf.subarray(4)
        if (chunk.length === 0) return
      }
      if (!stdout.write(chunk)) {
        sock.pause()
        stdout.once('drain', () => sock.resume())
      }
    })
    // Resume reading when invokeCgi destroys stdout (local redirect, failure).
    stdout.on('close', () => {
      sock.resume()
      sock.on('data', () => {})
    })
    sock.on('end', () => stdout.end())
    sock.on('error', err => {
      if (pid === undefined) ev.emit('error', err)
      stdout.destroy()
    })
    sock.on('close', () => {
      // The script and everything holding its stdout are done: that is its "exit".
      if (ev.exitCode === null) ev.exitCode = 0
      ev.emit('exit', 0, null)
    })
    return ev
  }

  /**
   * Starts `exec` with a connection to the gateway as its stdin and stdout, and resolves to
   * that connection once the child is running (its pid read off the connection first). For
   * http-stdio workers: the gateway's HTTP client then talks to the worker over a real
   * socket, with no stream adapter between, and starting a worker costs a fork of this small
   * server instead of a fork of the gateway.
   */
  async connect(
    exec: string[],
    cwd: string,
    env: Record<string, string>,
    stderrAsStdout: boolean
  ): Promise<{ socket: net.Socket; pid: number }> {
    const frame = encodeFrame(exec, cwd, env, stderrAsStdout)
    const socket = net.connect({ path: this.socketPath })
    socket.write(frame)
    return await new Promise((resolve, reject) => {
      // The pid is read with 'readable' + read(4), not with a 'data' listener: whatever the
      // program printed right behind it stays buffered for the next reader. (Unshifted back
      // into a flowing stream with no 'data' listener left, those bytes were emitted to nobody
      // and lost.) Once the last 'readable' listener is gone the stream is neither paused nor
      // flowing, so the HTTP client's 'data' listener starts it.
      const onReadable = (): void => {
        const head = socket.read(4) as Buffer | null
        if (head === null || head.length < 4) return // not yet, or ended without one (onClose)
        socket.off('readable', onReadable).off('error', onError).off('close', onClose)
        resolve({ socket, pid: head.readUInt32LE(0) })
      }
      const onError = (err: Error): void => {
        socket.destroy()
        reject(err)
      }
      const onClose = (): void => reject(new Error('the fork server closed the connection before starting the worker'))
      socket.on('readable', onReadable).once('error', onError).once('close', onClose)
    })
  }

  /** Stops the fork server for good (and whatever onStop releases, such as its scope). */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.listening = false
    this.proc?.kill('SIGTERM')
    this.proc = undefined
    this.ready = undefined
    await this.options.onStop?.()
  }
}

/**
 * The request to the fork server: argv, environment and cwd as NUL-terminated strings. A
 * string holding a NUL cannot be sent: it throws, as child_process.spawn does, rather than
 * being cut or altered (the gateway refuses such requests before, with 400).
 */
export function encodeFrame(exec: string[], cwd: string, env: Record<string, string>, stderrAsStdout: boolean): Buffer {
  const envList = Object.entries(env).map(([k, v]) => `${k}=${v}`)
  for (const x of [...exec, ...envList, cwd]) {
    if (!x.includes('\0')) continue
    throw new CgiSpawnFailed(
      `cannot start ${exec[0] ?? 'the function'}: ` + 'an argument, variable or the working directory holds a NUL byte'
    )
  }
  const strings = (xs: string[]): Buffer => Buffer.from(xs.map(x => x + '\0').join(''), 'utf8')
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4)
    b.writeUInt32LE(n)
    return b
  }
  const body = Buffer.concat([
    u32(stderrAsStdout ? 1 : 0),
    u32(exec.length),
    strings(exec),
    u32(envList.length),
    strings(envList),
    strings([cwd])
  ])
  return Buffer.concat([u32(body.length), body])
}

async function canConnect(socketPath: string): Promise<boolean> {
  return await new Promise(resolve => {
    const s = net.connect(socketPath)
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })
}
