import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { rootCertificates } from 'node:tls'
import {
  PeerConflict,
  PeerInputInvalid,
  PeerInviteExpired,
  PeerInviteScope,
  PeerInviteUsed,
  PeerMismatch,
  PeerNotFound,
  PeerRefused,
  PeerTlsFailed,
  PeerUnreachable,
  UsageError,
  type ConductorError
} from '../../errors/index.js'
import { PEERS_SERVICE, functionId } from '../model/index.js'
import { PEER_TOKEN_TTL_SEC, REMOTE_TIMEOUT_MS } from './defaults.js'
import { isHostname } from './records.js'

// Calls to another host's built-in peer functions, over HTTPS through its Caddy: TLS is always
// verified (--ca-file adds a CA to the system ones, e.g. Caddy's `tls internal` root), and each
// call carries a short-lived JWT signed by this host's key or by an invite key. Failures become
// the cluster's errors: unreachable, TLS, refused (with the remote's own code), never a stack.

export type BuiltinFunction = 'add-peer' | 'remove-peer' | 'list-peers' | 'identity'

export interface Target {
  /** What the operator typed: HOSTNAME, HOSTNAME:PORT or https://HOSTNAME[:PORT]. */
  url: URL
  /** The host name alone: the JWT audience, and the peer's hostname. */
  hostname: string
}

export function parseTarget(input: string): Target {
  let url: URL
  try {
    url = new URL(input.includes('://') ? input : `https://${input}`)
  } catch {
    throw new UsageError(`"${input}" is not a host name (HOSTNAME, HOSTNAME:PORT or https://HOSTNAME[:PORT])`)
  }
  if (url.protocol !== 'https:') throw new UsageError(`${input}: peers are called over https:// only`)
  if (url.pathname !== '/' || url.search !== '' || url.username !== '')
    throw new UsageError(`${input}: give the host only, no path or user`)
  const hostname = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (!isHostname(hostname)) throw new UsageError(`${input}: not a host name or IP address`)
  return { url, hostname }
}

export interface SignWith {
  /** PEM PKCS#8 private key. */
  privateKeyPem: string
  alg: 'ES256' | 'EdDSA'
  issuer: string
  subject: string
}

/** A JWT for one call: aud = the host dialed, 60 s, a fresh jti. */
export async function signPeerToken(k: SignWith, audience: string, now = Date.now()): Promise<string> {
  const { importPKCS8, SignJWT } = await import('jose')
  const key = await importPKCS8(k.privateKeyPem, k.alg)
  const iat = Math.floor(now / 1000)
  return await new SignJWT({})
    .setProtectedHeader({ alg: k.alg, typ: 'JWT' })
    .setIssuer(k.issuer)
    .setSubject(k.subject)
    .setAudience(audience)
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(iat + PEER_TOKEN_TTL_SEC)
    .sign(key)
}

export function readCaFile(file: string | undefined): string[] | undefined {
  if (file === undefined) return undefined
  let pem: string
  try {
    pem = readFileSync(file, 'utf8')
  } catch {
    throw new UsageError('cannot read the CA file (--ca-file)', file)
  }
  if (!pem.includes('BEGIN CERTIFICATE'))
    throw new UsageError('not a PEM certificate (expected "-----BEGIN CERTIFICATE-----")', file)
  return [...rootCertificates, pem]
}

export interface CallOptions {
  target: Target
  fn: BuiltinFunction
  body?: unknown
  token?: string | undefined
  ca?: string[] | undefined
  timeoutMs?: number
}

const REMOTE_ERRORS: Record<string, new (message: string) => ConductorError> = {
  CND_PEER_INVITE_EXPIRED: PeerInviteExpired,
  CND_PEER_INVITE_USED: PeerInviteUsed,
  CND_PEER_INVITE_SCOPE: PeerInviteScope,
  CND_PEER_MISMATCH: PeerMismatch,
  CND_PEER_CONFLICT: PeerConflict,
  CND_PEER_NOT_FOUND: PeerNotFound,
  CND_PEER_INPUT_INVALID: PeerInputInvalid
}

/**
 * POSTs (GETs without a body) to the built-in FN of the target; its JSON answer, or the cluster
 * error. A gateway shedding load answers 503 "overloaded" before any function runs: that is
 * tried again (three times, after its Retry-After, at most 2 s), nothing else is.
 */
export async function callBuiltin<T>(o: CallOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await callOnce<T>(o)
    } catch (err) {
      const retryAfter = (err as { retryAfterSec?: number }).retryAfterSec
      if (retryAfter === undefined || attempt >= 4) throw err
      await new Promise(resolve => setTimeout(resolve, Math.min(2000, retryAfter * 1000)))
    }
  }
}

async function callOnce<T>(o: CallOptions): Promise<T> {
  const url = new URL(`/.conductor/functions/${functionId(PEERS_SERVICE, o.fn.replace(/-/g, '_'))}/`, o.target.url)
  const body = o.body === undefined ? undefined : JSON.stringify(o.body)
  const headers: Record<string, string> = { accept: 'application/json' }
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`
  if (body !== undefined)
    Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) })
  const where = o.target.url.host
  const { status, text, retryAfter } = await new Promise<{
    status: number
    text: string
    retryAfter: string | undefined
  }>((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: body === undefined ? 'GET' : 'POST',
        headers,
        timeout: o.timeoutMs ?? REMOTE_TIMEOUT_MS,
        ...(o.ca !== undefined ? { ca: o.ca } : {})
      },
      res => {
        let t = ''
        res.setEncoding('utf8')
        res.on('data', (d: string) => {
          if (t.length < 1024 * 1024) t += d
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: t, retryAfter: res.headers['retry-after'] }))
        res.on('error', reject)
      }
    )
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })))
    // Never echo the request (it carries the token): only the transport's code and message.
    req.on('error', err => reject(transportError(where, err as NodeJS.ErrnoException)))
    req.end(body)
  })
  let parsed: { error?: string; message?: string } & Record<string, unknown> = {}
  try {
    parsed = JSON.parse(text) as typeof parsed
  } catch {
    /* not JSON */
  }
  if (status >= 200 && status < 300) return parsed as T
  const code = typeof parsed.error === 'string' ? parsed.error : ''
  if (status === 503 && code === 'CND_GATEWAY_OVERLOADED') {
    throw Object.assign(new PeerRefused(`${where} is overloaded (HTTP 503): try again in a moment`, code), {
      retryAfterSec: Number(retryAfter ?? 1) || 1
    })
  }
  const message = typeof parsed.message === 'string' ? parsed.message : ''
  const Known = REMOTE_ERRORS[code]
  if (Known !== undefined) return await Promise.reject(new Known(`${where} refused ${o.fn}: ${message || code}`))
  if (status === 401) {
    throw new PeerRefused(
      `${where} refused ${o.fn}: HTTP 401 ${code}: the credential is not accepted there (an invite made on ` +
        `another host, or pruned a day after it expired or was used; a key not in its peers policy; a token for another host ` +
        'name; clocks more than 30 s apart)',
      code
    )
  }
  if (status === 403)
    throw new PeerRefused(
      `${where} refused ${o.fn}: HTTP 403 ${code}${message !== '' ? `: ${message}` : ''} (the credential does not grant it)`,
      code
    )
  if (status === 404) {
    throw new PeerRefused(
      `${where} has no ${o.fn} function (HTTP 404): is conductor installed there with its built-in ` +
        `service routed (conductor system install, then conductor reload)?`,
      code
    )
  }
  throw new PeerRefused(`${where} ${o.fn} failed: HTTP ${status} ${code}${message !== '' ? `: ${message}` : ''}`, code)
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL|EPROTO/

function transportError(where: string, err: NodeJS.ErrnoException): ConductorError {
  const code = err.code ?? ''
  if (TLS_CODES.test(code)) {
    return new PeerTlsFailed(
      `TLS with ${where} failed (${code}: ${err.message}); its certificate does not verify: ` +
        'for a private CA (Caddy `tls internal`) pass its root with --ca-file (verification is never turned off)'
    )
  }
  return new PeerUnreachable(
    `cannot reach https://${where} (${code !== '' ? code : err.message}): check the host name, that ` +
      'its Caddy listens on 443 and that nothing blocks the way'
  )
}
