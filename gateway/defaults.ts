// The gateway's own defaults; its listen addresses are host.json's (conductor/model/defaults.ts).
export {
  DEFAULT_GATEWAY_LISTEN as DEFAULT_LISTEN,
  DEFAULT_GATEWAY_METRICS_LISTEN as DEFAULT_METRICS_LISTEN
} from '../conductor/model/index.js'
/** Grace given to in-flight requests when the gateway stops. */
export const CLOSE_GRACE_MS = 10_000
/**
 * Load shedding (@fastify/under-pressure): answer 503 + Retry-After once the event loop lags
 * this much, long before it stalls. Utilization is off by default: a gateway saturated by a
 * benchmark is busy, not stalled, and must keep answering.
 */
export const DEFAULT_MAX_EVENT_LOOP_DELAY_MS = 1000
export const DEFAULT_MAX_EVENT_LOOP_UTILIZATION = 0
export const DEFAULT_PRESSURE_SAMPLE_MS = 250
/** Seconds a shed client is told to wait (Retry-After). */
export const RETRY_AFTER_SEC = 2
/** Keep-alive of connections from Caddy (which pools them): longer than Caddy's idle timeout, so Caddy closes first. */
export const KEEP_ALIVE_MS = 65_000

/** While shedding load, one warning per this interval (with the count), not one per request. */
export const SHED_LOG_INTERVAL_MS = 5_000

/**
 * A served gateway listens and answers /auth before Fastify has loaded; Fastify then loads
 * (blocking the event loop for its module graph) once no request came for STARTUP_QUIET_MS, so
 * the requests waiting in the listen backlog after a restart are answered first, and at most
 * STARTUP_QUIET_MAX_MS after the listen, so that other requests are not held for long under load.
 */
export const STARTUP_QUIET_MS = 10
export const STARTUP_QUIET_MAX_MS = 500
