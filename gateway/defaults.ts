/** The gateway listens on loopback only: Caddy is its only client (ARCHITECTURE.md). */
export const DEFAULT_LISTEN = '127.0.0.1:2080'
/** Grace given to in-flight requests when the gateway stops. */
export const CLOSE_GRACE_MS = 10_000
