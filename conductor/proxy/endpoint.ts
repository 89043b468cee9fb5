import { CaddyClient, CaddyError, DEFAULT_ADMIN_URL } from '../../caddy/index.js'
import type { Ctx } from '../context.js'
import { CaddyFailed } from '../../errors/index.js'
import type { HostConfig } from '../model/index.js'

// Which Caddy admin API this command talks to (issue 8 item 0), first found wins:
// --caddy-admin, CONDUCTOR_CADDY_ADMIN, host.json "caddy_admin", Caddy's default.

export type CaddyAdminSource = 'flag' | 'env' | 'host.json' | 'default'

export function resolveCaddyAdmin (ctx: Pick<Ctx, 'env' | 'caddyAdmin'>, hostConfig: HostConfig): { url: string, source: CaddyAdminSource } {
  if (ctx.caddyAdmin !== undefined && ctx.caddyAdmin !== '') return { url: ctx.caddyAdmin, source: 'flag' }
  const env = ctx.env.CONDUCTOR_CADDY_ADMIN
  if (env !== undefined && env !== '') return { url: env, source: 'env' }
  const host = hostConfig.caddy_admin
  if (host !== undefined) return { url: host, source: 'host.json' }
  return { url: DEFAULT_ADMIN_URL, source: 'default' }
}

export function caddyClient (ctx: Pick<Ctx, 'env' | 'caddyAdmin'>, host: HostConfig): CaddyClient {
  const { url, source } = resolveCaddyAdmin(ctx, host)
  try {
    return new CaddyClient({ adminUrl: url })
  } catch (err) {
    throw asConductorError(err, `(from ${source})`)
  }
}

/** caddy/ errors keep their code and get the CLI's exit code 6. */
export function asConductorError (err: unknown, suffix = ''): unknown {
  if (err instanceof CaddyError) return new CaddyFailed(err.message + (suffix === '' ? '' : ' ' + suffix), err.code, { cause: err })
  return err
}
