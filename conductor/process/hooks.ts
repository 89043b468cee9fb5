import { runBounded } from './bounded.js'
import { DEFAULT_HOOK_TIMEOUT_SEC, STDERR_TAIL_BYTES } from '../model/index.js'
import { HookFailed } from '../../errors/index.js'
import type { HOOK_EVENTS } from '../model/index.js'
import type { Service } from '../model/index.js'
import type { Variables } from '../model/index.js'

// Hooks (seed "Hooks"): programs run with the variables as environment, each bounded by its
// timeout_sec (process group killed). Deployment hooks (pre/post-start, pre/post-stop) run in
// the deployment directory, *-service hooks in the service directory. A failing pre-* hook
// aborts the start or stop it precedes; a failing post-* hook is reported (the thing already
// happened, there is nothing to abort).

export type HookEvent = (typeof HOOK_EVENTS)[number]

const HOOK_OUTPUT_BYTES = 64 * 1024

/** Runs every hook of `when` in declaration order; throws HookFailed at the first failure. */
export async function runHooks(
  svc: Service,
  when: HookEvent,
  vars: Variables,
  cwd: string,
  part?: string
): Promise<string[]> {
  const ran: string[] = []
  for (const hook of svc.hooks) {
    if (hook.when !== when) continue
    if (part !== undefined && hook.parts !== undefined && !hook.parts.includes(part)) continue
    const timeoutSec = hook.timeout_sec ?? DEFAULT_HOOK_TIMEOUT_SEC
    const [file, ...args] = hook.exec
    const r = await runBounded({
      file: file!,
      args,
      cwd,
      env: vars,
      timeoutMs: timeoutSec * 1000,
      maxOutputBytes: HOOK_OUTPUT_BYTES,
      stderrTailBytes: STDERR_TAIL_BYTES
    })
    const output = [r.stdout.trimEnd(), r.stderrTail.trimEnd()].filter(s => s !== '').join('\n')
    const shown = output === '' ? '' : `\n--- hook output ---\n${output.slice(-STDERR_TAIL_BYTES)}`
    const where = `/hooks (id "${hook.id}", ${when})`
    if (r.timedOut)
      throw new HookFailed(
        `hook did not finish within ${timeoutSec}s and was killed; raise its timeout_sec if it is just slow${shown}`,
        svc.file,
        where
      )
    if (r.spawnError !== undefined)
      throw new HookFailed(
        `cannot run hook ${file!}: ${r.spawnError}; check that it exists and is executable`,
        svc.file,
        where
      )
    if (r.exitCode !== 0) {
      const how = r.signal !== undefined ? `was killed by ${r.signal}` : `exited with status ${String(r.exitCode)}`
      throw new HookFailed(`hook ${how}${shown}`, svc.file, where)
    }
    ran.push(hook.id)
  }
  return ran
}
