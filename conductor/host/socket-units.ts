import path from 'node:path'
import { type Listen, listenAddress, socketUnit } from '../model/index.js'
import { HEADER } from './unit-files.js'

// Units of pod sockets (README "Pod sockets"), pure text. Podman 4.3 cannot pass sockets
// through `podman kube play`: it hands LISTEN_FDS to the first container it starts (the infra
// or service container) and closes them, so the application gets none, or an unrelated fd 3
// (test/e2e/conductor/deploy/sockets.test.ts shows it). `podman start` of one container does
// pass them. So a part with sockets plays its pod with `--start=false`, starts the infra
// container without the sockets, then each application container with them (podSocketsScript).
//
// Each socket is a unit of the service, `conductor-socket@SERVICE.NAME.socket`, open for as
// long as the service runs: every deployment of the part names it in `Sockets=` and gets the
// same listening socket, so during a deploy both pods accept from it and then the old one
// leaves; a connection never meets a closed socket. A socket's triggered service is
// `conductor-socket@SERVICE.NAME.service`, a no-op kept active once it starts: it is started
// only when a connection arrives while no deployment runs, and then keeps systemd from
// polling the socket (the connection waits in the backlog for the next deployment).

export const SOCKET_IDLE_TEMPLATE = 'conductor-socket@.service'

export function renderSocketIdleTemplate(): string {
  return `${HEADER}[Unit]
Description=Conductor socket %i: no deployment runs, connections wait in the backlog
BindsTo=%N.socket

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
`
}

/** One socket of a service, stopped with the service unit (PartOf). */
export function renderSocketUnit(root: string, service: string, name: string, listen: Listen): string {
  const address = listenAddress(root, listen)
  const unixOnly = listen.kind === 'unix' ? 'SocketMode=0660\nRemoveOnStop=yes\n' : ''
  return `# Written by conductor for service ${service}; removed with the service.
[Unit]
Description=Conductor socket ${name} of service ${service} (${address})
PartOf=conductor-service@${service}.service

[Socket]
ListenStream=${address}
FileDescriptorName=${name}
${unixOnly}Backlog=4096
`
}

export interface PodSocketsUnit {
  /** Socket units the deployment receives. */
  units: string[]
  /** The start script (podSocketsScript) in the deployment directory. */
  script: string
  pidFile: string
  podman: string
  /** Seconds the application has to finish its requests after SIGTERM when the pod stops. */
  stopTimeoutSec: number
}

/** The [Unit] and [Service] lines a deployment with sockets adds to its drop-in. */
export function socketDropInLines(s: PodSocketsUnit): { unit: string; service: string } {
  const list = s.units.join(' ')
  // Type=forking: the unit is active once every container runs, and follows the first
  // application container's conmon (its PID file). ExecStop gives the application SIGTERM and
  // stopTimeoutSec to finish what it accepted: the socket stays open for the next deployment.
  return {
    unit: `Requires=${list}\nAfter=${list}\n`,
    service:
      `Sockets=${list}\nType=forking\nPIDFile=${s.pidFile}\nExecStart=\nExecStart=/bin/sh ${s.script}\n` +
      `ExecStop=${s.podman} pod stop -t ${s.stopTimeoutSec} %i\nTimeoutStopSec=${s.stopTimeoutSec + 30}\n`
  }
}

/**
 * Plays the pod without starting it, starts the infra container with the sockets closed (else
 * Podman passes them to it, and to netavark/aardvark-dns, which keep them open), then each
 * application container with them, and writes the first one's conmon PID for systemd.
 */
export function podSocketsScript(o: {
  podman: string
  kube: string
  pod: string
  pidFile: string
  fds: number
}): string {
  const close = Array.from({ length: o.fds }, (_, i) => `${i + 3}>&-`).join(' ')
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`
  return `# Written by conductor: starts a pod whose containers receive systemd's sockets.
set -eu
podman=${q(o.podman)} pod=${q(o.pod)} pid=${q(o.pidFile)}
plain() { env -u LISTEN_FDS -u LISTEN_PID -u LISTEN_FDNAMES "$podman" "$@" ${close}; }
rm -f "$pid" "$pid.tmp"
plain kube play --replace --start=false ${q(o.kube)} >/dev/null
plain start "$(plain pod inspect --format '{{.InfraContainerID}}' "$pod")" >/dev/null
for c in $(plain ps -a --filter "pod=$pod" --sort created --format '{{.ID}}:{{.IsInfra}}'); do
  [ "\${c#*:}" = false ] || continue
  "$podman" start "\${c%%:*}" >/dev/null
  [ -s "$pid.tmp" ] || plain inspect --format '{{.State.ConmonPid}}' "\${c%%:*}" > "$pid.tmp"
done
mv "$pid.tmp" "$pid"
`
}

export const podSocketsScriptPath = (deploymentDir: string): string => path.join(deploymentDir, 'start-pod.sh')
export const podPidFile = (deploymentDir: string): string => path.join(deploymentDir, 'conmon.pid')
export { socketUnit }
