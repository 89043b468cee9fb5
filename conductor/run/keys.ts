import { mkdirSync, readFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import path from 'node:path'
import { ConductorError, UsageError } from '../../errors/index.js'
import { NAME_PATTERN } from '../model/index.js'
import { checkKeysDir, pathTaken, refuseSymlink, replaceFiles } from './key-files.js'

// Operator key pairs for remote commands (issue 7): the private key stays on the operator's
// machine (mode 0600) and signs short-lived JWTs; the public key goes into a policy entry.
// jose is loaded only by the commands that sign or generate.

export const KEY_ALGORITHMS = ['ES256', 'EdDSA'] as const
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number]
/** Remote command tokens live at most this long (ARCHITECTURE.md: exp <= 5 min). */
export const MAX_COMMAND_TOKEN_TTL_SEC = 300

export class KeyExists extends ConductorError {
  override readonly code = 'CND_KEY_EXISTS'
}
export class KeyNotFound extends ConductorError {
  override readonly code = 'CND_KEY_NOT_FOUND'
}

export interface KeyFiles {
  privateKey: string
  publicKey: string
}

export function keyFiles(keysDir: string, name: string): KeyFiles {
  if (!NAME_PATTERN.test(name)) throw new UsageError(`invalid key name "${name}": use letters, digits and _ . -`)
  return { privateKey: path.join(keysDir, `${name}.key`), publicKey: path.join(keysDir, `${name}.pub`) }
}

export async function generateKeyPair(
  keysDir: string,
  name: string,
  alg: KeyAlgorithm,
  force = false
): Promise<{ files: KeyFiles; publicPem: string }> {
  const files = keyFiles(keysDir, name)
  mkdirSync(keysDir, { recursive: true, mode: 0o700 })
  // Checked before anything is written (key-files.ts says why).
  checkKeysDir(keysDir)
  refuseSymlink(files.privateKey)
  refuseSymlink(files.publicKey)
  if (!force && pathTaken(files.privateKey))
    throw new KeyExists(
      `key "${name}" already exists; use --force to replace it (tokens signed with the old key will stop working)`,
      files.privateKey
    )
  const { generateKeyPair: generate, exportPKCS8, exportSPKI } = await import('jose')
  const { privateKey, publicKey } = await generate(alg, {
    extractable: true,
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {})
  })
  const publicPem = await exportSPKI(publicKey)
  // Both files new, the private one 0600 from its creation: never readable by others, even briefly.
  replaceFiles([
    { file: files.privateKey, data: await exportPKCS8(privateKey), mode: 0o600 },
    { file: files.publicKey, data: publicPem, mode: 0o644 }
  ])
  return { files, publicPem }
}

export function readPublicKey(keysDir: string, name: string): string {
  const { publicKey } = keyFiles(keysDir, name)
  try {
    return readFileSync(publicKey, 'utf8')
  } catch {
    throw new KeyNotFound(`no key "${name}"; create it with: conductor key generate ${name}`, publicKey)
  }
}

export interface PolicyEntry {
  public_key: string
  issuer: string
  subject: string
  audience: string[]
  max_lifetime_sec: number
}

/**
 * The bearer entry to paste into a policy's `bearer` list. `audience` makes the gateway check
 * `aud`: the client signs aud = the host name of --remote, so a token made for one server is
 * refused by every other server that trusts the same key (each gateway has its own jti cache,
 * so without it a token could be replayed once on each of them within its 5 minutes).
 * `max_lifetime_sec` refuses tokens longer-lived than the client ever signs. `subject` pins
 * the subject (X-Conductor-Subject, audit) to the key's name: the client signs sub = issuer,
 * and without it the key holder could sign any sub and pass for someone else in the logs.
 */
export function policyEntry(publicPem: string, issuer: string, audiences: string[]): PolicyEntry {
  return {
    public_key: publicPem.trim(),
    issuer,
    subject: issuer,
    audience: normalizeAudiences(audiences),
    max_lifetime_sec: MAX_COMMAND_TOKEN_TTL_SEC
  }
}

/** --audience values: host names or IP addresses as written in --remote https://HOST[:PORT], without scheme or port. */
export function normalizeAudiences(values: string[]): string[] {
  if (values.length === 0)
    throw new UsageError(
      'give --audience HOST: the host name clients use in --remote https://HOST (repeat it for several names of the same server); the gateway then refuses tokens made for another server'
    )
  return [
    ...new Set(
      values.map(v => {
        const host = v.replace(/^\[|\]$/g, '')
        if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host) && !/^[0-9A-Fa-f:.]+$/.test(host))
          throw new UsageError(`--audience ${v}: expected a host name or IP address (no scheme, no port)`)
        return host.toLowerCase()
      })
    )
  ]
}

export interface CommandTokenRequest {
  privateKeyFile: string
  issuer: string
  /** The remote host name: policy entries made by `conductor key generate --audience HOST` require it. */
  audience: string
  service: string
  command: string
  ttlSec?: number
  now?: Date
}

/** Claims that bind a token to one command of one service (a token for db:migrate cannot run console). */
export const COMMAND_CLAIMS = { service: 'conductor_service', command: 'conductor_command' } as const

export async function signCommandToken(req: CommandTokenRequest): Promise<string> {
  const ttl = req.ttlSec ?? MAX_COMMAND_TOKEN_TTL_SEC
  if (!(ttl > 0 && ttl <= MAX_COMMAND_TOKEN_TTL_SEC))
    throw new UsageError(`token lifetime must be between 1 and ${MAX_COMMAND_TOKEN_TTL_SEC} seconds`)
  let pem: string
  try {
    pem = readFileSync(req.privateKeyFile, 'utf8')
  } catch {
    throw new KeyNotFound('cannot read the private key', req.privateKeyFile)
  }
  const { importPKCS8, SignJWT } = await import('jose')
  const alg = pem.includes('BEGIN PRIVATE KEY') ? await detectAlgorithm(pem) : undefined
  if (alg === undefined)
    throw new UsageError(
      'not a PKCS#8 private key (expected "-----BEGIN PRIVATE KEY-----"); create one with conductor key generate',
      req.privateKeyFile
    )
  const key = await importPKCS8(pem, alg)
  const now = Math.floor((req.now ?? new Date()).getTime() / 1000)
  return await new SignJWT({ [COMMAND_CLAIMS.service]: req.service, [COMMAND_CLAIMS.command]: req.command })
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setIssuer(req.issuer)
    .setSubject(req.issuer)
    .setAudience(req.audience)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + ttl)
    .sign(key)
}

// The algorithm follows from the key itself, never from a flag that could disagree with it.
async function detectAlgorithm(pem: string): Promise<KeyAlgorithm | undefined> {
  const { createPrivateKey } = await import('node:crypto')
  try {
    const key = createPrivateKey(pem)
    if (key.asymmetricKeyType === 'ed25519') return 'EdDSA'
    if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256'
  } catch {
    /* not a key */
  }
  return undefined
}
