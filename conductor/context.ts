import { resolveRoots, type RootOverrides, type Roots } from './model/index.js'
import { processIo, type Io } from './output.js'
import { UsageError } from '../errors/index.js'
import { loadAllServices, loadService, type Service, type ServiceEntry } from './model/index.js'
import { openValidationCache, type ValidationCache } from './model/index.js'
import { loadHostConfig, readVersion, type HostConfig } from './model/index.js'

// One context object passed down to every command (STYLE habit 6): roots, output, options
// shared by all commands. Tests build their own with temporary roots and captured output.

export interface Ctx {
  roots: Roots
  io: Io
  env: NodeJS.ProcessEnv
  /** --template-timeout, overrides the service's template_timeout_sec. */
  templateTimeoutSec?: number | undefined
  /** Remembers validated file contents across runs (see validation-cache.ts). */
  validationCache: ValidationCache
  /** --scope (system|user); resolved with CONDUCTOR_SCOPE and host.json by systemContext. */
  scopeFlag?: string | undefined
  /** --caddy-admin as given (resolved with env and host.json by proxy/endpoint.ts). */
  caddyAdmin?: string | undefined
  /** host.json, read and validated once per command, on first use (an absent file is {}). */
  host: () => Promise<HostConfig>
}

export interface GlobalOptions extends RootOverrides {
  templateTimeout?: string | undefined
  scope?: string | undefined
  caddyAdmin?: string | undefined
}

export function createCtx(opts: GlobalOptions, io: Io = processIo, env: NodeJS.ProcessEnv = process.env): Ctx {
  const roots = resolveRoots(opts, env)
  const validationCache = openValidationCache(env, readVersion())
  let host: Promise<HostConfig> | undefined
  return {
    roots,
    io,
    env,
    templateTimeoutSec:
      opts.templateTimeout === undefined ? undefined : positiveNumber(opts.templateTimeout, '--template-timeout'),
    validationCache,
    scopeFlag: opts.scope,
    caddyAdmin: opts.caddyAdmin,
    host: async () =>
      await (host ??= loadHostConfig(roots.hostFile, validationCache).finally(() => validationCache.save()))
  }
}

/** Loads one service of the context's services directory. */
export async function ctxService(ctx: Ctx, name: string): Promise<Service> {
  try {
    return await loadService(ctx.roots.services, name, ctx.validationCache)
  } finally {
    ctx.validationCache.save()
  }
}

/** Loads every service (broken ones carry their error). */
export async function ctxServices(ctx: Ctx): Promise<ServiceEntry[]> {
  try {
    return await loadAllServices(ctx.roots.services, ctx.validationCache)
  } finally {
    ctx.validationCache.save()
  }
}

export function positiveNumber(value: string, flag: string): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag} must be a positive number of seconds, got "${value}"`)
  return n
}
