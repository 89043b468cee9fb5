import { spawn, type ChildProcess } from 'node:child_process'
import type net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

// What the harness starts must not outlive a test process that ends without its teardown: tap's
// per-file timeout (an IPC message, SIGALRM, then SIGKILL one second later), a SIGTERM, a crash.
// No signal handler can run after SIGKILL, and Node has no parent-death signal (prctl's
// PR_SET_PDEATHSIG) for its children, so the cleanup lives in another process: one detached
// reaper per test process (reaper.cjs), reading cleanup commands from a pipe. A teardown that
// ran cancels its command; when the pipe closes (this process ended, in any way) the reaper runs
// whatever is left: Caddy killed, a user manager's units stopped and its cgroup emptied...

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'reaper.cjs')
let reaper: ChildProcess | undefined
let next = 0

function start(): ChildProcess {
  const child = spawn(process.execPath, [SCRIPT], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] })
  // Neither the child nor the pipe keeps this process alive; the pipe closes with it.
  child.unref()
  ;(child.stdin as unknown as net.Socket).unref()
  child.stdin?.on('error', () => {})
  return child
}

function send(msg: object): void {
  reaper ??= start()
  reaper.stdin?.write(`${JSON.stringify(msg)}\n`)
}

/**
 * Runs `argv` (with `env`) if this process ends before the returned function is called (call
 * it once the thing is cleaned up normally, e.g. at the end of its teardown).
 */
export function onDeath(argv: string[], env?: Record<string, string>): () => void {
  const id = ++next
  send({ add: id, argv, ...(env === undefined ? {} : { env }) })
  let cancelled = false
  return () => {
    if (cancelled) return
    cancelled = true
    send({ del: id })
  }
}

/** Kills process PID (SIGKILL) if this process ends before the returned function is called. */
export function killOnDeath(pid: number | undefined): () => void {
  if (pid === undefined) return () => {}
  return onDeath(['kill', '-KILL', String(pid)])
}
