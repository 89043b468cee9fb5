import path from 'node:path'
import type { Scope } from '../model/index.js'
import { CADDY_UNIT, GATEWAY_UNIT, NATS_UNIT, SYNC_UNIT } from '../model/index.js'

// Unit file text, pure (tested as text and with `systemd-analyze verify`). Template instances
// carry the identity (%i = service name or deployment id), so starting a deployment writes no
// unit file, only a small drop-in (PartOf + the pod's service_directives) — ARCHITECTURE.md
// "Identities and units": prefer template instances, one daemon-reload per reconcile.

export const SERVICE_TEMPLATE = 'conductor-service@.service'
export const GATEWAY_SOCKET = 'conductor-gateway.socket'
export const DEPLOYMENT_TEMPLATE = 'conductor-deployment@.service'
export const HEADER = '# Written by `conductor system install`; changes are overwritten.\n'

export interface UnitPaths {
  scope: Scope
  /** ROOT/var/lib/conductor/deployments */
  deploymentsDir: string
  /** ROOT/etc/conductor */
  etcDir: string
  /** ROOT/var/lib/conductor */
  libDir: string
  /** ROOT/run/conductor (receipts of the config units) */
  runDir: string
  podman: string
  caddy: string
  /** Command line that runs the conductor CLI (node + bin.js). */
  conductor: string[]
  /** Environment passed to every unit (CONDUCTOR_ROOT, CONTAINERS_CONF when set). */
  environment: Record<string, string>
  /** Caddy admin address for the default caddy.json. */
  caddyAdmin: string
  /** Listen addresses of the default caddy.json's HTTP server (host.json caddy_listen). */
  caddyListen: readonly string[]
  /** Where the gateway listens (host.json gateway_listen): the socket unit's ListenStream. */
  gatewayListen: string
  /** nats-server (default /usr/sbin/nats-server, Debian's). */
  nats?: string | undefined
}

const wantedBy = (scope: Scope): string => (scope === 'user' ? 'default.target' : 'multi-user.target')

function envLines(env: Record<string, string>): string {
  return Object.entries(env)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `Environment=${quoteEnv(`${k}=${v}`)}\n`)
    .join('')
}

/** systemd quoting for one Environment= assignment. */
export function quoteEnv(assignment: string): string {
  return /^[A-Za-z0-9_=/.:,@+-]*$/.test(assignment)
    ? assignment
    : `"${assignment.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%')}"`
}

export function renderServiceTemplate(p: UnitPaths): string {
  // The service unit is the anchor its deployments are PartOf: stopping it stops them. It runs
  // nothing itself; Conductor starts the deployments (with hooks) around it.
  // Wants= its config unit: any start (systemd's own too) brings the routes and hooks along.
  return `${HEADER}[Unit]
Description=Conductor service %i
After=${CADDY_UNIT}
Requires=${CADDY_UNIT}
Wants=conductor-service-config@%i.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true

[Install]
WantedBy=${wantedBy(p.scope)}
`
}

export function renderDeploymentTemplate(p: UnitPaths): string {
  const kube = path.join(p.deploymentsDir, '%i', 'kube.yaml')
  // kube play --service-container makes podman the notifying main process: the unit is active
  // once the pod runs (0.34 s here) and stopping it removes the pod. ExecStopPost removes a pod
  // left behind by a crash; `pod rm -f -t 0` takes 0.36 s where `kube down` waits 3.4 s
  // (ENVIRONMENT.md timings).
  return `${HEADER}[Unit]
Description=Conductor deployment %i
After=${CADDY_UNIT}
Requires=${CADDY_UNIT}
Wants=conductor-deployment-config@%i.service

[Service]
Type=notify
NotifyAccess=all
${envLines(p.environment)}Environment=PODMAN_SYSTEMD_UNIT=%n
ExecStart=${p.podman} kube play --replace --service-container=true ${kube}
ExecStopPost=-${p.podman} pod rm -f -t 0 %i
TimeoutStartSec=120
TimeoutStopSec=30
Restart=on-failure
RestartSec=2

[Install]
WantedBy=${wantedBy(p.scope)}
`
}

export function renderGatewayUnit(p: UnitPaths): string {
  // Every protected request in Caddy waits on the gateway (forward_auth), so a crashed gateway
  // is an outage until it is back: restart it after 200 ms rather than the 2 s of deployments
  // (issue 9 fault test: back in well under 2 s). systemd's default start limit (5 starts in
  // 10 s) still ends a crash loop, so a gateway that cannot start does not spin.
  // CacheDirectory: where the gateway remembers the service and policy files it validated
  // ($CACHE_DIRECTORY), so a restart does not load zod for files it has seen (a system
  // service has no HOME to keep them under).
  return `${HEADER}[Unit]
Description=Conductor gateway (forward_auth target, functions, commands)
After=${CADDY_UNIT} ${GATEWAY_SOCKET}
Requires=${CADDY_UNIT} ${GATEWAY_SOCKET}

[Service]
Type=simple
${envLines(p.environment)}ExecStart=${p.conductor.join(' ')} gateway
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=200ms
CacheDirectory=conductor

[Install]
WantedBy=${wantedBy(p.scope)}
`
}

/**
 * The gateway's listening socket, held by systemd (socket activation): while the gateway
 * restarts after a crash, Caddy's forward_auth connections wait in the backlog instead of
 * being refused, so clients see a slower answer rather than a 502. The gateway takes it as fd 3.
 */
export function renderGatewaySocket(p: UnitPaths): string {
  const listen = p.gatewayListen.startsWith('unix:') ? p.gatewayListen.slice('unix:'.length) : p.gatewayListen
  return `${HEADER}[Unit]
Description=Conductor gateway socket (${p.gatewayListen}; connections wait here while the gateway restarts)

[Socket]
ListenStream=${listen}
${p.gatewayListen.startsWith('unix:') ? 'SocketMode=0660\n' : ''}
[Install]
WantedBy=sockets.target
`
}

/** XDG_DATA_HOME and XDG_CONFIG_HOME of the default caddy.service: Caddy's storage and autosave. */
const caddyHome = (libDir: string): string => path.join(libDir, 'caddy')
/** Where that Caddy autosaves its config ($XDG_CONFIG_HOME/caddy/autosave.json), which --resume loads. */
export const caddyAutosavePath = (libDir: string): string => path.join(caddyHome(libDir), 'caddy', 'autosave.json')

/** Installed only when no caddy.service exists (seed "Fleet": a default Caddy unit). */
export function renderCaddyUnit(p: UnitPaths): string {
  const data = caddyHome(p.libDir)
  return `${HEADER}[Unit]
Description=Caddy for Conductor (admin API on ${p.caddyAdmin})

[Service]
Type=notify
Environment=XDG_DATA_HOME=${data}
Environment=XDG_CONFIG_HOME=${data}
ExecStart=${p.caddy} run --resume --config ${path.join(p.etcDir, 'caddy.json')}
ExecReload=${p.caddy} reload --config ${path.join(p.etcDir, 'caddy.json')} --force
TimeoutStopSec=5s
Restart=on-failure

[Install]
WantedBy=${wantedBy(p.scope)}
`
}

/**
 * The cluster's NATS server (issue 17). Its config is written by conductor from the peer list
 * (cluster/nats-config.ts); a membership change rewrites it and reloads (SIGHUP): no restart.
 * Not tied to Caddy: peers keep their routes while Caddy restarts.
 */
export function renderNatsUnit(p: UnitPaths): string {
  return `${HEADER}[Unit]
Description=NATS server of Conductor's cluster (config written by conductor from the peer list)

[Service]
Type=simple
ExecStart=${p.nats ?? '/usr/sbin/nats-server'} -c ${path.join(p.etcDir, 'nats.conf')}
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=1
TimeoutStopSec=10

[Install]
WantedBy=${wantedBy(p.scope)}
`
}

/**
 * The fleet daemon, one per host: converges the peers policy and the NATS routes from the
 * replicated member list, heartbeats; service sync and scheduling join it (issues 18, 19).
 * Always restarted: a host without it stops following its cluster.
 */
export function renderSyncUnit(p: UnitPaths): string {
  return `${HEADER}[Unit]
Description=Conductor fleet daemon (peers and NATS routes from the member list, heartbeats)
After=${NATS_UNIT}
Wants=${NATS_UNIT}

[Service]
Type=simple
${envLines(p.environment)}ExecStart=${p.conductor.join(' ')} _ fleet-daemon
Restart=always
RestartSec=1

[Install]
WantedBy=${wantedBy(p.scope)}
`
}

/**
 * Drop-in of one deployment instance: the service it belongs to and the pod's directives; for
 * a part with sockets, the lines that pass them (socket-units.ts).
 */
export function renderDeploymentDropIn(
  service: string,
  directives: string[],
  sockets?: { unit: string; service: string }
): string {
  // After= the service: a stop of the service unit (systemd's own too) stops the deployments,
  // and their config units, before it ends, so routes are out when `systemctl stop` returns.
  const serviceLines = (sockets?.service ?? '') + directives.map(d => d + '\n').join('')
  return `# Written by conductor for one deployment; removed when it is undeployed.
[Unit]
PartOf=conductor-service@${service}.service
After=conductor-service@${service}.service
${sockets?.unit ?? ''}${serviceLines !== '' ? '\n[Service]\n' + serviceLines : ''}`
}

export const dropInPath = (unitsDir: string, unit: string): string =>
  path.join(unitsDir, `${unit}.d`, '50-conductor.conf')
export { GATEWAY_UNIT, CADDY_UNIT, NATS_UNIT, SYNC_UNIT }
