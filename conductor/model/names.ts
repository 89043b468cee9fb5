// Unit and identity naming (ARCHITECTURE.md "Identities and units"). Names are validated
// (NAME_PATTERN) before they get here, so no systemd escaping is needed.

export const GATEWAY_UNIT = 'conductor-gateway.service'
export const CADDY_UNIT = 'caddy.service'
/** The NATS server of the cluster (issue 17): config written by conductor from the peer list. */
export const NATS_UNIT = 'conductor-nats.service'
/** The fleet daemon (peers now; service sync and scheduling later): `conductor _ fleet-daemon`. */
export const SYNC_UNIT = 'conductor-sync.service'
/**
 * The fleet daemon's service sync status, in ROOT/run/conductor/ (rewritten every second while
 * it runs): `conductor doctor` and the gateway's metrics read it, without NATS.
 */
export const FLEET_SYNC_STATUS_FILE = 'fleet-sync.json'
/** That status older than this: the sync task is not running. */
export const FLEET_SYNC_STATUS_STALE_MS = 5000
/** The built-in service of the peer functions (add-peer, remove-peer, list-peers, identity). */
export const PEERS_SERVICE = 'conductor-peers'

export const serviceUnit = (service: string): string => `conductor-service@${service}.service`
export const serviceConfigUnit = (service: string): string => `conductor-service-config@${service}.service`
export const deploymentUnit = (deployment: string): string => `conductor-deployment@${deployment}.service`
export const deploymentConfigUnit = (deployment: string): string => `conductor-deployment-config@${deployment}.service`

/** `SERVICE-PART-SUFFIX`, or `SERVICE-SUFFIX` for the unnamed main part. */
export function deploymentId(service: string, part: string, suffix: string): string {
  return [service, part, suffix].filter(s => s !== '').join('-')
}

/**
 * Short, unique and sortable: base-36 milliseconds (8 chars until 2059, so lexical order is
 * time order) plus two random base-36 chars against two deployments in the same millisecond.
 */
export function newDeploymentSuffix(now: number = Date.now(), random: () => number = Math.random): string {
  const rand = Math.floor(random() * 36 * 36)
    .toString(36)
    .padStart(2, '0')
  return now.toString(36).padStart(8, '0') + rand
}

/** Function id (CONDUCTOR_FUNCTION_ID): `SERVICE` for the unnamed function, else `SERVICE-NAME`. */
export function functionId(service: string, fn: string): string {
  return fn === '' ? service : `${service}-${fn}`
}

/**
 * The part of a deployment id (`deploymentId` the other way round): the id less its service and
 * its suffix, which holds no `-` (base 36). `''` for the unnamed part.
 */
export function partOfDeployment(service: string, id: string): string {
  if (!id.startsWith(service + '-')) return ''
  const rest = id.slice(service.length + 1)
  const dash = rest.lastIndexOf('-')
  return dash < 0 ? '' : rest.slice(0, dash)
}
