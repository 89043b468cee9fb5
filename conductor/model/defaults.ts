// Every default of the CLI in one place (kamal-proxy service.go const block).

/** File name of a service declaration inside its directory (seed README). */
export const SERVICE_FILE_NAME = 'conductor-service.json'
/** Templates that take longer are killed with their whole process group (seed TODO). */
export const DEFAULT_TEMPLATE_TIMEOUT_SEC = 30
/** A template printing more than this is a bug (a loop), not a pod definition. */
export const DEFAULT_TEMPLATE_MAX_OUTPUT_BYTES = 16 * 1024 * 1024
/** How much of a failing template's stderr goes into the error message. */
export const STDERR_TAIL_BYTES = 2048
/** Hooks are bounded too, so a stuck hook cannot stall a reload forever. */
export const DEFAULT_HOOK_TIMEOUT_SEC = 60
/** Grace between SIGTERM and SIGKILL when a timeout kills a process group. */
export const KILL_GRACE_MS = 2000
/** Names become systemd instance names and directory names: keep them plain. */
export const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/
/** Peer ids name machines of the fleet: a hostname or FQDN (issue 17), never a path or a pattern. */
export const PEER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/
/**
 * Most replicas one pod part may declare: each is a pod with its own ports, and a route listing
 * hundreds of upstreams is a typo, not a plan. Raise it here if a host really needs more.
 */
export const MAX_REPLICAS = 64
/** Deployments started or stopped at once by one reconcile (each is mostly waiting on podman). */
export const RECONCILE_CONCURRENCY = 4
/**
 * A reload with nothing to do asks Podman for this root's pods (orphans, pods gone) at most this
 * often; `reload --dry-run` and a reload with work always ask (reconcile/pod-listing.ts).
 */
export const POD_LISTING_INTERVAL_SEC = 300
/** A remote command (POST or interactive) is killed after this long unless its remote.timeout_sec says otherwise. */
export const DEFAULT_REMOTE_TIMEOUT_SEC = 3600
/**
 * Output one remote invocation may stream (stdout and stderr, or the terminal's bytes) unless
 * remote.max_output_bytes says otherwise: past it the command is killed. A bound on what one
 * caller can make the gateway relay, far above any migration's log.
 */
export const DEFAULT_REMOTE_MAX_OUTPUT_BYTES = 64 * 1024 * 1024
/**
 * Where the HTTP server of Conductor's routes listens when host.json has no caddy_listen: the
 * standard HTTP and HTTPS ports on every interface, as a Caddy site would (HTTPS with Caddy's
 * automatic certificates for the hosts routes match).
 */
export const DEFAULT_CADDY_LISTEN: readonly string[] = [':80', ':443']
/** The gateway listens on loopback only: Caddy is its only client (host.json gateway_listen). */
export const DEFAULT_GATEWAY_LISTEN = '127.0.0.1:2080'
/** Prometheus /metrics of the gateway, on a listener of its own (host.json gateway_metrics_listen). */
export const DEFAULT_GATEWAY_METRICS_LISTEN = '127.0.0.1:2081'
