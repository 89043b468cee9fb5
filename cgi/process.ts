import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'

// Starting and stopping function processes. Every process leads its own process group
// (detached), so killing the group also kills whatever the script forked: a timeout or a
// recycle leaves no orphan behind. Node reaps the direct child itself (no zombie).

export interface SpawnOptions {
  exec: string[]
  cwd: string
  env: Record<string, string>
  stderrAsStdout: boolean
  /** 'pipe' for CGI/http-stdio, 'ignore' for a daemon that talks over its socket. */
  stdin: 'pipe' | 'ignore'
}

export function spawnFunctionProcess(opts: SpawnOptions): ChildProcess {
  const [file, ...args] = opts.exec as [string, ...string[]]
  // stderr goes to the gateway's own stderr (the journal), like a web server's error log,
  // unless the function asks for it in the response; then a shell joins the two streams,
  // which Node cannot do with one pipe.
  const stdio: StdioOptions = [opts.stdin, 'pipe', 'inherit']
  if (opts.stderrAsStdout) {
    return spawn('/bin/sh', ['-c', 'exec "$@" 2>&1', 'sh', file, ...args], {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio
    })
  }
  return spawn(file, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio })
}

/** Kills a process group; quiet when it is already gone. */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (pid === undefined) return
  try {
    process.kill(-pid, signal)
  } catch {
    /* group already gone */
  }
}

/** Resolves when the child has exited (immediately if it already has). */
export async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>(resolve => child.once('exit', () => resolve()))
}

/** Whether process PID exists (EPERM: it does, as another user's). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
