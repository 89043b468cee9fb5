import { CaddyClient, CaddyError, DEFAULT_ADMIN_URL } from '../../caddy/index.js'
import type { Ctx } from '../context.js'
import type { HostConfig } from '../model/index.js'

// Which Caddy admin API this command talks to (issue 8 item 0), first found wins:
// --caddy-admin, CONDUCTOR_CADDY_ADMIN, host.json "caddy_admin", Caddy's default.

export type CaddyAdminSource = 'flag' | 'env' | 'host.json' | 'default'

export function resolveCaddyAdmin(
  ctx: Pick<Ctx, 'env' | 'caddyAdmin'>,
  hostConfig: HostConfig
): { url: string; source: CaddyAdminSource } {
  if (ctx.caddyAdmin !== undefined && ctx.caddyAdmin !== '') return { url: ctx.caddyAdmin, source: 'flag' }
  const env = ctx.env.CONDUCTOR_CADDY_ADMIN
  if (env !== undefined && env !== '') return { url: env, source: 'env' }
  const host = hostConfig.caddy_admin
  if (host !== undefined) return { url: host, source: 'host.json' }
  return { url: DEFAULT_ADMIN_URL, source: 'default' }
}

export function caddyClient(ctx: Pick<Ctx, 'env' | 'caddyAdmin'>, host: HostConfig): CaddyClient {
  const { url, source } = resolveCaddyAdmin(ctx, host)
  try {
    return new CaddyClient({ adminUrl: url })
  } catch (err) {
    // An unusable admin URL: say where it came from.
    if (err instanceof CaddyError) {
      throw new CaddyError(`${err.message} (from ${source})`, undefined, undefined, { cause: err })
    }
    throw err
  }
}
