import type { Decision } from '../policies/index.js'

// What ties one remote command invocation to the token that allowed it: the token names the
// service and command it was signed for, and its (iss, jti) is accepted once. Everything is
// read from the claims the policy verified (Decision.claims), never from the Authorization
// header a second time: a second parser disagreeing with the first (two spaces after "Bearer",
// a padded signature) skipped every check here (issue 13). Anything unusable refuses.

/** Claims of a command token (conductor/run/keys.ts signs them). */
export const SERVICE_CLAIM = 'conductor_service'
export const COMMAND_CLAIM = 'conductor_command'
/** Longer jti values are refused: the replay cache holds 100 000 of them. */
export const MAX_JTI_CHARS = 256

export type TokenBinding = { ok: true; replayKey: string; expMs: number } | { ok: false; reason: string }

export function commandTokenBinding(d: Decision, service: string, command: string): TokenBinding {
  const c = d.claims
  // Only a verified JWT can name its command and be used once. An allow from a static token or
  // from a matcher without a credential (always, origin) has neither: refused (fail closed).
  if (c === undefined)
    return refused('remote commands need a verified JWT (the allow came from a static token or no credential)')
  // Also refuses a missing claim or one of another type (an array, a number).
  const bound = c[SERVICE_CLAIM] === service && c[COMMAND_CLAIM] === command
  if (!bound) return refused('token is bound to another service or command')
  const { jti, iss, exp } = c
  const usableJti = typeof jti === 'string' && jti !== '' && jti.length <= MAX_JTI_CHARS
  if (!usableJti) return refused('command token has no usable jti')
  if (iss !== undefined && typeof iss !== 'string') return refused('command token iss is not a string')
  // jose required exp and checked it is a number; checked again so the replay horizon is never NaN.
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return refused('command token exp is not a number')
  return { ok: true, replayKey: `${iss ?? ''}\u0000${jti}`, expMs: exp * 1000 }
}

function refused(reason: string): TokenBinding {
  return { ok: false, reason }
}
