import { readFileSync } from 'node:fs'
import { z } from 'zod'
import { HostInvalid, HostSyntax } from '../../errors/index.js'
import { parseJsonc } from '../../errors/index.js'
import { resourceUnitsSchema } from './resource-units.js'
import { describeIssues } from '../../errors/index.js'

// <roots.etc>/host.json describes this machine (ARCHITECTURE.md "Files on the host"). The zod
// schema is the single source of truth; every field is optional so a fresh host needs no file.

// host.json caddy_listen: the listen addresses of the server Conductor's routes go into.
const caddyListenSchema = z.array(z.string().refine(isCaddyListenAddress, {
  error: iss => `"${String(iss.input)}" is not a Caddy listen address: ` +
    'expected ":PORT", "HOST:PORT", "[IPV6]:PORT" or "unix//PATH"'
})).min(1, 'at least one address').superRefine((list, ctx) => {
  const twice = list.findIndex((a, i) => list.indexOf(a) !== i)
  if (twice >= 0) ctx.addIssue({ code: 'custom', path: [twice], message: `"${list[twice]!}" is listed twice` })
}).describe('Where the HTTP server of Conductor\'s routes ("@id": "conductor-server") listens, written into the ' +
  'caddy.json of `system install` (default [":80", ":443"]; automatic HTTPS only when one has port 443).')

export const hostSchema = z.strictObject({
  $schema: z.string().describe('Optional JSON Schema reference for editors; ignored.').optional(),
  hostname: z.string().min(1).describe('This machine\'s name in the fleet (default: the OS hostname).').optional(),
  resources: resourceUnitsSchema.describe('Abstract resources this machine offers for fleet placement, e.g. ' +
    '{"vcpu": 4, "ram_gb": 100, "ports": 10}; a unit it does not declare counts 0 (README "Fleet placement").')
    .optional(),
  gateway_listen: z.string().min(1).describe('Where the gateway listens: HOST:PORT on loopback or unix:/path (default 127.0.0.1:2080).').optional(),
  functions_listen: z.string().min(1).describe('A second gateway listener for functions only, normally unix:/run/conductor/functions.sock (mode 0660); `function caddy-config` routes to it when set.').optional(),
  functions_group: z.string().min(1).describe('Group (name or gid) given the functions_listen socket, normally Caddy\'s ("caddy"), so only Caddy can reach functions locally.').optional(),
  gateway_metrics_listen: z.string().min(1).describe('Where the gateway serves Prometheus /metrics: HOST:PORT on loopback, unix:/path, or "none" (default 127.0.0.1:2081).').optional(),
  caddy_admin: z.string().min(1).describe('Caddy admin API endpoint: http://HOST:PORT or unix//PATH (default http://localhost:2019).').optional(),
  caddy_listen: caddyListenSchema.optional(),
  scope: z.enum(['system', 'user']).describe('systemd scope: "system" (servers, /etc/systemd/system) or "user" (rootless hosts, systemctl --user).').optional()
}).describe('This machine (host.json).')

export type HostConfig = z.infer<typeof hostSchema>

/** Reads host.json; an absent file is an empty config, anything else wrong is HostInvalid. */
export function loadHostConfig (file: string): HostConfig {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') return {}
    throw new HostInvalid(`cannot read file (${code ?? String(err)})`, file, undefined, { cause: err })
  }
  const parsed = hostSchema.safeParse(parseJsonc(text, file, HostSyntax))
  if (!parsed.success) {
    const lines = describeIssues(hostSchema, parsed.error.issues)
    const err = new HostInvalid(lines[0]?.message ?? 'invalid', file, lines[0]?.jsonPath)
    if (lines.length > 1) err.message = lines.map(l => `${file}: ${l.jsonPath}: ${l.message}`).join('\n')
    throw err
  }
  return parsed.data
}

export function hostJsonSchema (): unknown {
  return z.toJSONSchema(hostSchema, { target: 'draft-2020-12', io: 'input' })
}

export const SCOPES = ['system', 'user'] as const
export type Scope = typeof SCOPES[number]

/**
 * The listen address for Caddy's own config (`admin.listen`), from host.json's caddy_admin,
 * which is a URL for the client side (http://HOST:PORT) or a unix socket (unix//PATH).
 */
export function caddyAdminListen (caddyAdmin: string | undefined): string {
  if (caddyAdmin === undefined || caddyAdmin === '') return 'localhost:2019'
  if (caddyAdmin.startsWith('unix//')) return `unix/${caddyAdmin.slice('unix/'.length)}`
  return caddyAdmin.replace(/^https?:\/\//, '').replace(/\/+$/, '')
}

/** Caddy listen address syntax accepted in host.json: [tcp|tcp4|tcp6/]HOST:PORT, :PORT, [V6]:PORT, unix//PATH. */
export function isCaddyListenAddress (s: string): boolean {
  if (/^unix\/\/\S+$/.test(s)) return true
  const port = listenPort(s)
  return port !== undefined && port >= 1 && port <= 65535
}

/** The TCP port of a listen address, undefined for a unix socket or anything unparsable. */
export function listenPort (address: string): number | undefined {
  const m = /^(?:tcp[46]?\/)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):(\d{1,5})$/.exec(address)
  return m === null ? undefined : Number(m[1])
}
