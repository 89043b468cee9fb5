import { resolveRoots, type RootOverrides, type Roots } from './roots.js'
import { processIo, type Io } from './output.js'
import { UsageError } from './errors.js'

// One context object passed down to every command (STYLE habit 6): roots, output, options
// shared by all commands. Tests build their own with temporary roots and captured output.

export interface Ctx {
  roots: Roots
  io: Io
  env: NodeJS.ProcessEnv
  /** --template-timeout, overrides the service's template_timeout_sec. */
  templateTimeoutSec?: number | undefined
  /** --caddy-admin as given (resolved with env and host.json by caddy-endpoint.ts). */
  caddyAdmin?: string | undefined
}

export interface GlobalOptions extends RootOverrides {
  templateTimeout?: string | undefined
  caddyAdmin?: string | undefined
}

export function createCtx (opts: GlobalOptions, io: Io = processIo, env: NodeJS.ProcessEnv = process.env): Ctx {
  return {
    roots: resolveRoots(opts, env),
    io,
    env,
    templateTimeoutSec: opts.templateTimeout === undefined ? undefined : positiveNumber(opts.templateTimeout, '--template-timeout'),
    caddyAdmin: opts.caddyAdmin
  }
}

export function positiveNumber (value: string, flag: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} must be a positive number of seconds, got "${value}"`)
  return n
}
