import { createHmac, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto'
import { SignJWT, type JWTPayload } from 'jose'

// Keys and tokens for policy tests: good tokens signed with jose, and hand-made hostile ones
// (alg none, HS256 keyed with the public key, tampered signatures...).

export interface TestKey {
  alg: 'RS256' | 'ES256' | 'EdDSA' | 'PS256' | 'ES384'
  privateKey: KeyObject
  publicKey: KeyObject
  pem: string
  derB64: string
  jwk: Record<string, unknown>
}

export function makeKey(alg: TestKey['alg'], kid?: string): TestKey {
  const pair =
    alg === 'RS256' || alg === 'PS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : alg === 'ES384'
          ? generateKeyPairSync('ec', { namedCurve: 'P-384' })
          : generateKeyPairSync('ed25519')
  const jwk = { ...pair.publicKey.export({ format: 'jwk' }), ...(kid !== undefined ? { kid } : {}) } as Record<
    string,
    unknown
  >
  return {
    alg,
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    pem: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    derB64: pair.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    jwk
  }
}

export const nowSec = (): number => Math.floor(Date.now() / 1000)

export async function signToken(
  key: TestKey,
  claims: JWTPayload = {},
  header: Record<string, unknown> = {}
): Promise<string> {
  const payload: JWTPayload = { sub: 'alice', iat: nowSec(), exp: nowSec() + 300, ...claims }
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k]
  return await new SignJWT(payload).setProtectedHeader({ alg: key.alg, ...header }).sign(key.privateKey)
}

const b64u = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')

/** An unsigned token (alg none). */
export function noneToken(claims: JWTPayload = {}): string {
  return `${b64u({ alg: 'none', typ: 'JWT' })}.${b64u({ sub: 'mallory', iat: nowSec(), exp: nowSec() + 300, ...claims })}.`
}

/** HS256 "signed" with the public key's PEM as the HMAC secret (the classic algorithm confusion). */
export function hsWithPublicKeyToken(
  key: TestKey,
  claims: JWTPayload = {},
  header: Record<string, unknown> = {}
): string {
  const input = `${b64u({ alg: 'HS256', typ: 'JWT', ...header })}.${b64u({ sub: 'mallory', iat: nowSec(), exp: nowSec() + 300, ...claims })}`
  return `${input}.${createHmac('sha256', key.pem).update(input).digest('base64url')}`
}

/** A token whose header claims `alg` but is signed by `key` with its own algorithm (header lies). */
export function rawSigned(key: TestKey, header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const input = `${b64u(header)}.${b64u(claims)}`
  const sig =
    key.alg === 'EdDSA'
      ? cryptoSign(null, Buffer.from(input), key.privateKey)
      : cryptoSign(
          'sha256',
          Buffer.from(input),
          key.alg === 'ES256' ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' } : key.privateKey
        )
  return `${input}.${sig.toString('base64url')}`
}

/** Flips one character in the middle of the signature. */
export function tamper(token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string]
  const i = Math.floor(s.length / 2)
  const c = s[i] === 'A' ? 'B' : 'A'
  return `${h}.${p}.${s.slice(0, i)}${c}${s.slice(i + 1)}`
}

/** Same signature, payload changed (sub -> admin). */
export function tamperPayload(token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
  return `${h}.${b64u({ ...claims, sub: 'admin' })}.${s}`
}
