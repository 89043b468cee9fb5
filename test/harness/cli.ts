import { execFile } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { runCli } from '../../conductor/cli/program.js'

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
/**
 * The shipped CLI: the esbuild bundle's entry (scripts/bundle.mjs; `npm run build`, or the
 * faster `npm run bundle`, makes it), for tests that go through the real binary. Tests run what
 * ships: the same file the package's "bin" and the systemd units name.
 */
export const binPath = path.join(repoRoot, 'dist/conductor/bin.js')

export interface CliResult {
  code: number
  stdout: string
  stderr: string
}

/** Runs the CLI in-process (fast), capturing its output. */
export async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  const code = await runCli(
    args,
    {
      out: s => {
        stdout += s
      },
      err: s => {
        stderr += s
      }
    },
    { PATH: process.env.PATH, ...env }
  )
  return { code, stdout, stderr }
}

/** Runs the shipped CLI (the bundle) as a real process. */
export async function cliProcess(args: string[], env: NodeJS.ProcessEnv = {}, cwd = repoRoot): Promise<CliResult> {
  return await new Promise(resolve => {
    execFile(
      process.execPath,
      [binPath, ...args],
      { cwd, env: { PATH: process.env.PATH, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code =
          err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1
        resolve({ code, stdout, stderr })
      }
    )
  })
}
