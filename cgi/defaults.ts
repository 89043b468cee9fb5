// Every default of cgi/ in one place (STYLE habit 5). The service schema documents the same
// values in its field descriptions.

/** Per-request time limit; past it the process group is killed and the client gets 504. */
export const DEFAULT_TIMEOUT_SEC = 30
/** Request bodies above this get 413 before the process sees a byte of them. */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
/** Concurrent invocations of one function (processes for single/multi, requests for parallel). */
export const DEFAULT_MAX_WORKERS = 16
/** Requests waiting for a free worker; one more gets 503 + Retry-After. */
export const DEFAULT_MAX_QUEUE = 64
/** multi mode: a worker is recycled after this many requests... */
export const DEFAULT_MAX_REQUESTS = 1000
/** ...or after being idle this long (also: parallel daemon idle time before scale to zero). */
export const DEFAULT_IDLE_TIMEOUT_SEC = 60
/** A CGI header block larger than this is a script printing garbage: 502. */
export const MAX_HEADER_BYTES = 64 * 1024
/** Seconds a client is told to wait when the queue is full. */
export const RETRY_AFTER_SEC = 1
/** parallel mode: how long a fresh daemon has to start listening on its socket. */
export const DAEMON_START_TIMEOUT_MS = 10_000
/** Local redirects (RFC 3875 §6.2.2) followed before giving up with 502. */
export const MAX_LOCAL_REDIRECTS = 5
