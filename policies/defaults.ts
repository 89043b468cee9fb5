// Every default of policies/ in one place (STYLE habit 5), each with why.

/** Tolerance for exp/nbf/iat between hosts whose clocks drift; bounded so a stale token cannot live on. */
export const DEFAULT_CLOCK_SKEW_SEC = 30
export const MAX_CLOCK_SKEW_SEC = 300
/** A JWT may not live longer than this (exp - iat) unless the entry says otherwise: leaked tokens expire. */
export const DEFAULT_MAX_LIFETIME_SEC = 24 * 3600
/** Longer Authorization values are refused before any parsing (a JWT is a few hundred bytes to a few KiB). */
export const MAX_CREDENTIAL_BYTES = 8192
/** Verified JWTs kept (per bearer entry) until their exp, so a repeated token costs about a bearer check. */
export const VERIFIED_CACHE_MAX = 10_000
/** JWKS: how long a fetched key set is used before it is refetched. */
export const DEFAULT_JWKS_MAX_AGE_SEC = 600
/** JWKS: an unknown kid refetches the set at most once per this period (a flood of bogus kids costs one fetch). */
export const DEFAULT_JWKS_COOLDOWN_SEC = 30
export const JWKS_FETCH_TIMEOUT_MS = 5000
export const JWKS_MAX_BYTES = 512 * 1024
/** Claim that may narrow an entry's authorizations (array of names, or a space-separated string). */
export const DEFAULT_AUTHORIZATIONS_CLAIM = 'authorizations'
/** Nesting limit of `policy` references, against pathological trees beyond the cycle check. */
export const MAX_POLICY_DEPTH = 16
/** Allow decisions cached per policy set (key: policy, SHA-256 of the credential, authorization, origin). */
export const DECISION_CACHE_MAX = 10_000
