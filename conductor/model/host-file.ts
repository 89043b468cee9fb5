// host.json has one schema, in host-schema.ts; this module keeps the names the reconciler uses.
import { hostSchema, loadHostConfig, type HostConfig } from './host.js'

export const SCOPES = ['system', 'user'] as const
export type Scope = typeof SCOPES[number]
export type HostFile = HostConfig
export const hostFileSchema = hostSchema
export const loadHostFile = loadHostConfig

/**
 * The listen address for Caddy's own config (`admin.listen`), from host.json's caddy_admin,
 * which is a URL for the client side (http://HOST:PORT) or a unix socket (unix//PATH).
 */
export function caddyAdminListen (caddyAdmin: string | undefined): string {
  if (caddyAdmin === undefined || caddyAdmin === '') return 'localhost:2019'
  if (caddyAdmin.startsWith('unix//')) return `unix/${caddyAdmin.slice('unix/'.length)}`
  return caddyAdmin.replace(/^https?:\/\//, '').replace(/\/+$/, '')
}
