import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto'
import { PolicyKeyInvalid } from './errors.js'
import type { JwtAlgorithm } from './shape.js'

// Imports a public key and fixes the one algorithm it verifies. The algorithm comes from the
// key (and the entry's jwt_alg, which must fit the key type), never from a token's header:
// that is what makes "alg: none" and "HS256 signed with the public key" impossible.

export interface VerifyKey {
  key: KeyObject
  alg: JwtAlgorithm
  kid?: string | undefined
}

const RSA_ALGS: ReadonlySet<string> = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'])
const PSS_ALGS: ReadonlySet<string> = new Set(['PS256', 'PS384', 'PS512'])
const CURVE_ALG: Record<string, JwtAlgorithm> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' }
const MIN_RSA_BITS = 2048

export function importPem(
  pem: string,
  alg: JwtAlgorithm | undefined,
  where: { file?: string; jsonPath?: string } = {}
): VerifyKey {
  if (/PRIVATE KEY/.test(pem))
    throw new PolicyKeyInvalid('is a private key; put only the PUBLIC key in a policy', where.file, where.jsonPath)
  let key: KeyObject
  try {
    key = createPublicKey({ key: pem, format: 'pem' })
  } catch (err) {
    throw new PolicyKeyInvalid(`not a valid PEM public key (${(err as Error).message})`, where.file, where.jsonPath)
  }
  return { key, alg: algorithmFor(key, alg, where) }
}

export function importJwk(
  jwk: Record<string, unknown>,
  alg: JwtAlgorithm | undefined,
  where: { file?: string; jsonPath?: string } = {}
): VerifyKey {
  if ('d' in jwk || 'p' in jwk || 'k' in jwk)
    throw new PolicyKeyInvalid(
      'holds private or symmetric key material; put only the public JWK in a policy',
      where.file,
      where.jsonPath
    )
  let key: KeyObject
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' })
  } catch (err) {
    throw new PolicyKeyInvalid(`not a valid public JWK (${(err as Error).message})`, where.file, where.jsonPath)
  }
  const jwkAlg = typeof jwk.alg === 'string' ? (jwk.alg as JwtAlgorithm) : undefined
  if (alg !== undefined && jwkAlg !== undefined && alg !== jwkAlg)
    throw new PolicyKeyInvalid(`jwt_alg ${alg} contradicts the JWK's alg ${jwkAlg}`, where.file, where.jsonPath)
  return { key, alg: algorithmFor(key, alg ?? jwkAlg, where), kid: typeof jwk.kid === 'string' ? jwk.kid : undefined }
}

/** The original Go implementation's form: base64 of a DER SubjectPublicKeyInfo, with jwt_alg. */
export function importDerBase64(
  b64: string,
  alg: JwtAlgorithm,
  where: { file?: string; jsonPath?: string } = {}
): VerifyKey {
  let key: KeyObject
  try {
    key = createPublicKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'spki' })
  } catch (err) {
    throw new PolicyKeyInvalid(
      `not a base64 DER SubjectPublicKeyInfo public key (${(err as Error).message})`,
      where.file,
      where.jsonPath
    )
  }
  return { key, alg: algorithmFor(key, alg, where) }
}

/** The algorithm a key verifies: the requested one if it fits the key type, else the key's natural one. */
export function algorithmFor(
  key: KeyObject,
  requested: JwtAlgorithm | undefined,
  where: { file?: string; jsonPath?: string } = {}
): JwtAlgorithm {
  const type = key.asymmetricKeyType
  const fail = (msg: string): never => {
    throw new PolicyKeyInvalid(msg, where.file, where.jsonPath)
  }
  switch (type) {
    case 'rsa':
    case 'rsa-pss': {
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
      if (bits < MIN_RSA_BITS) fail(`RSA key of ${bits} bits is too short (at least ${MIN_RSA_BITS})`)
      const allowed = type === 'rsa' ? RSA_ALGS : PSS_ALGS
      if (requested === undefined) return type === 'rsa' ? 'RS256' : 'PS256'
      if (!allowed.has(requested))
        fail(`jwt_alg ${requested} does not fit an ${type.toUpperCase()} key (use one of ${[...allowed].join(', ')})`)
      return requested!
    }
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve ?? ''
      const natural = CURVE_ALG[curve] ?? fail(`EC curve ${curve} is not supported (P-256, P-384, P-521)`)
      if (requested !== undefined && requested !== natural)
        fail(`jwt_alg ${requested} does not fit this ${curve} key (it verifies ${natural})`)
      return natural
    }
    case 'ed25519':
      if (requested !== undefined && requested !== 'EdDSA')
        fail(`jwt_alg ${requested} does not fit an Ed25519 key (it verifies EdDSA)`)
      return 'EdDSA'
    default:
      return fail(`key type ${type ?? 'unknown'} is not supported (RSA, EC P-256/384/521, Ed25519)`)
  }
}
