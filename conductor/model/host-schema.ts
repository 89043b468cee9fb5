import { z } from 'zod'
import { resourceUnitsSchema } from './resource-units.js'
import { describeIssues } from '../../errors/index.js'
import { isCaddyListenAddress } from './caddy-address.js'

// <roots.etc>/host.json describes this machine (ARCHITECTURE.md "Files on the host"). The zod
// schema is the single source of truth; every field is optional so a fresh host needs no file.
// Loaded only when a host.json content has not been validated before (host.ts).

// host.json caddy_listen: the listen addresses of the server Conductor's routes go into.
const caddyListenSchema = z
  .array(
    z.string().refine(isCaddyListenAddress, {
      error: iss =>
        `"${String(iss.input)}" is not a Caddy listen address: ` +
        'expected ":PORT", "HOST:PORT", "[IPV6]:PORT" or "unix//PATH"'
    })
  )
  .min(1, 'at least one address')
  .superRefine((list, ctx) => {
    const twice = list.findIndex((a, i) => list.indexOf(a) !== i)
    if (twice >= 0) ctx.addIssue({ code: 'custom', path: [twice], message: `"${list[twice]!}" is listed twice` })
  })
  .describe(
    'Where the HTTP server of Conductor\'s routes ("@id": "conductor-server") listens, written into the ' +
      'caddy.json of `system install` (default [":80", ":443"]; automatic HTTPS only when one has port 443).'
  )

// host.json cluster: how this host takes part in the fleet's NATS cluster (issue 17).
const port = z.number().int().min(1).max(65535)
const clusterSchema = z
  .strictObject({
    hostname: z
      .string()
      .regex(
        /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$|^[0-9A-Fa-f:.]+$/,
        'must be a host name or an IP address (no scheme, no port)'
      )
      .describe(
        'Name (DNS name or IP address) the other peers reach this host by: https://HOSTNAME (its Caddy) and ' +
          'HOSTNAME:PORT (NATS routes); its route certificate is made for it. Default: the peer id (hostname).'
      )
      .optional(),
    listen: z
      .string()
      .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/, 'must be HOST:PORT')
      .describe(
        'Where the NATS server listens for routes of the other peers (default "0.0.0.0:6222"); the peers dial ' +
          'HOSTNAME and this port.'
      )
      .optional(),
    client_port: port
      .describe("Loopback port of the NATS server for Conductor's own clients (default 4222).")
      .optional(),
    monitor_port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .describe(
        "Loopback port of the NATS server's monitoring endpoint (/varz, /routez, /jsz) that `conductor doctor` " +
          'reads (default 8222; 0: none).'
      )
      .optional()
  })
  .describe('This host in the fleet\'s NATS cluster (README "Cluster: peers"); every field optional.')

// host.json fleet: how this host's scheduler judges the others (issue 19).
const hostFleetSchema = z
  .strictObject({
    dead_after_sec: z
      .number({ error: iss => `must be a number of seconds, got ${JSON.stringify(iss.input) ?? 'nothing'}` })
      .min(2, 'must be at least 2: heartbeats go every second, and one lost must not declare a host dead')
      .max(3600, 'must be at most 3600')
      .describe(
        'A peer whose heartbeat has not been heard for this many seconds is dead: its services are placed ' +
          'elsewhere (default 5; README "Fleet scheduler").'
      )
      .optional()
  })
  .describe('This host\'s fleet scheduler (README "Fleet scheduler"); every field optional.')

export const hostSchema = z
  .strictObject({
    $schema: z.string().describe('Optional JSON Schema reference for editors; ignored.').optional(),
    hostname: z.string().min(1).describe("This machine's name in the fleet (default: the OS hostname).").optional(),
    resources: resourceUnitsSchema
      .describe(
        'Abstract resources this machine offers for fleet placement, e.g. ' +
          '{"vcpu": 4, "ram_gb": 100, "ports": 10}; a unit it does not declare counts 0 (README "Fleet placement").'
      )
      .optional(),
    gateway_listen: z
      .string()
      .min(1)
      .describe('Where the gateway listens: HOST:PORT on loopback or unix:/path (default 127.0.0.1:2080).')
      .optional(),
    functions_listen: z
      .string()
      .min(1)
      .describe(
        'A second gateway listener for functions only, normally unix:/run/conductor/functions.sock (mode 0660); `function caddy-config` routes to it when set.'
      )
      .optional(),
    functions_group: z
      .string()
      .min(1)
      .describe(
        'Group (name or gid) given the functions_listen socket, normally Caddy\'s ("caddy"), so only Caddy can reach functions locally.'
      )
      .optional(),
    gateway_metrics_listen: z
      .string()
      .min(1)
      .describe(
        'Where the gateway serves Prometheus /metrics: HOST:PORT on loopback, unix:/path, or "none" (default 127.0.0.1:2081).'
      )
      .optional(),
    caddy_admin: z
      .string()
      .min(1)
      .describe('Caddy admin API endpoint: http://HOST:PORT or unix//PATH (default http://localhost:2019).')
      .optional(),
    caddy_listen: caddyListenSchema.optional(),
    cluster: clusterSchema.optional(),
    fleet: hostFleetSchema.optional(),
    scope: z
      .enum(['system', 'user'])
      .describe('systemd scope: "system" (servers, /etc/systemd/system) or "user" (rootless hosts, systemctl --user).')
      .optional()
  })
  .describe('This machine (host.json).')

export type HostConfig = z.infer<typeof hostSchema>

/** The issues of an invalid host.json as `/json/path: reason` lines; none when it is valid. */
export function hostIssues(raw: unknown): Array<{ jsonPath: string; message: string }> {
  const parsed = hostSchema.safeParse(raw)
  return parsed.success ? [] : describeIssues(hostSchema, parsed.error.issues)
}

/** The top-level fields host.json accepts (for doctor's fix line). */
export function hostFieldNames(): string[] {
  return Object.keys(hostSchema.shape).filter(k => k !== '$schema')
}

export function hostJsonSchema(): unknown {
  return z.toJSONSchema(hostSchema, { target: 'draft-2020-12', io: 'input' })
}
