import { readFileSync } from 'node:fs'
import { HostInvalid, HostSyntax, parseJsonc } from '../../errors/index.js'
import type { HostConfig } from './host-schema.js'
import type { ValidationCache } from './validation-cache.js'

// host.json, read once per command (Ctx.host()): JSONC parsed here, validated by the zod
// schema of host-schema.ts only when this content has not passed before (the validation
// cache), so a command that only needs an address does not pay ~100 ms for zod.

export type { HostConfig } from './host-schema.js'

/** Reads host.json; an absent file is an empty config, anything else wrong is HostInvalid. */
export async function loadHostConfig(file: string, cache?: ValidationCache): Promise<HostConfig> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return {}
    throw new HostInvalid(`cannot read file (${code ?? String(err)})`, file, undefined, { cause: err })
  }
  const raw = parseJsonc(text, file, HostSyntax)
  if (cache?.isKnownValid(text, 'host') !== true) {
    const lines = (await import('./host-schema.js')).hostIssues(raw)
    if (lines.length > 0) {
      const err = new HostInvalid(lines[0]!.message, file, lines[0]!.jsonPath)
      if (lines.length > 1) err.message = lines.map(l => `${file}: ${l.jsonPath}: ${l.message}`).join('\n')
      throw err
    }
    cache?.markValid(text, 'host')
  }
  // The schema has no transforms or defaults: a valid document is its own parsed value.
  return raw as HostConfig
}

export const SCOPES = ['system', 'user'] as const
export type Scope = (typeof SCOPES)[number]

/**
 * The listen address for Caddy's own config (`admin.listen`), from host.json's caddy_admin,
 * which is a URL for the client side (http://HOST:PORT) or a unix socket (unix//PATH).
 */
export function caddyAdminListen(caddyAdmin: string | undefined): string {
  if (caddyAdmin === undefined || caddyAdmin === '') return 'localhost:2019'
  if (caddyAdmin.startsWith('unix//')) return `unix/${caddyAdmin.slice('unix/'.length)}`
  return caddyAdmin.replace(/^https?:\/\//, '').replace(/\/+$/, '')
}
