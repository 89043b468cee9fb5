import { DEFAULT_TEMPLATE_MAX_OUTPUT_BYTES, DEFAULT_TEMPLATE_TIMEOUT_SEC, STDERR_TAIL_BYTES } from '../model/index.js'
import { TemplateFailed, TemplateOutputTooLarge, TemplateTimeout } from '../../errors/index.js'
import { runBounded } from './bounded.js'
import type { Variables } from '../model/index.js'

// A template is any executable (seed "Templates"): the variables come in its environment
// and, as the original implementation did, as KEY=VALUE arguments; its stdout is the document.

export interface TemplateRun {
  /** Absolute path of the executable. */
  file: string
  /** Service directory (service context) or deployment directory (deployment context). */
  cwd: string
  vars: Variables
  timeoutSec?: number | undefined
  maxOutputBytes?: number | undefined
  signal?: AbortSignal | undefined
}

export async function runTemplate(run: TemplateRun): Promise<string> {
  const timeoutSec = run.timeoutSec ?? DEFAULT_TEMPLATE_TIMEOUT_SEC
  const maxOutputBytes = run.maxOutputBytes ?? DEFAULT_TEMPLATE_MAX_OUTPUT_BYTES
  const result = await runBounded({
    file: run.file,
    args: Object.entries(run.vars).map(([k, v]) => `${k}=${v}`),
    cwd: run.cwd,
    env: run.vars,
    timeoutMs: timeoutSec * 1000,
    maxOutputBytes,
    stderrTailBytes: STDERR_TAIL_BYTES,
    signal: run.signal
  })
  const tail = result.stderrTail.trim() === '' ? '' : `\n--- stderr (last lines) ---\n${result.stderrTail.trimEnd()}`
  if (result.timedOut) {
    throw new TemplateTimeout(
      `template did not finish within ${timeoutSec}s and was killed with its process group; raise template_timeout_sec or --template-timeout if it is just slow${tail}`,
      run.file
    )
  }
  if (result.outputTooLarge) {
    throw new TemplateOutputTooLarge(
      `template printed more than ${maxOutputBytes} bytes and was killed${tail}`,
      run.file
    )
  }
  if (result.spawnError !== undefined) {
    throw new TemplateFailed(
      `cannot run template: ${result.spawnError}; check that it exists and is executable (chmod +x)`,
      run.file
    )
  }
  if (result.exitCode !== 0) {
    const how =
      result.signal !== undefined ? `was killed by ${result.signal}` : `exited with status ${String(result.exitCode)}`
    throw new TemplateFailed(`template ${how}${tail}`, run.file)
  }
  return result.stdout
}
