import { execFile } from 'node:child_process'

// Runs a short-lived system tool (systemctl, podman) and collects its output. Plain
// child_process.execFile rather than execa: execa's module graph costs ~180 ms to load on
// these machines, which `service ls` (one systemctl call for the RUNNING column) would pay on
// every invocation; here we need nothing execa adds (no pipes, no process-group kills: the
// tools exit by themselves, and the timeout kills the one process). execa stays for templates
// and hooks (bounded-process.ts), where its group kill and output limits matter.

export interface ToolResult {
  /** null when the tool could not be started or was killed by the timeout. */
  exitCode: number | null
  stdout: string
  stderr: string
  /** Why it did not run or finish, e.g. "spawn systemctl ENOENT" or "timed out after 10000 ms". */
  failure?: string
}

const MAX_OUTPUT_BYTES = 64 * 1024 * 1024

export async function runTool(
  bin: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number
): Promise<ToolResult> {
  return await new Promise(resolve => {
    execFile(
      bin,
      args,
      { env, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve({ exitCode: 0, stdout: trimEnd(stdout), stderr: trimEnd(stderr) })
          return
        }
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean }
        const exitCode = typeof e.code === 'number' ? e.code : null
        const failure =
          e.killed === true ? `timed out after ${timeoutMs} ms` : exitCode === null ? e.message : undefined
        resolve({
          exitCode,
          stdout: trimEnd(stdout),
          stderr: trimEnd(stderr),
          ...(failure !== undefined ? { failure } : {})
        })
      }
    )
  })
}

// execa strips the final newline; callers were written against that.
function trimEnd(s: string): string {
  return s.endsWith('\n') ? s.slice(0, -1) : s
}
