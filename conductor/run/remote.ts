import { readFileSync } from 'node:fs'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import path from 'node:path'
import { rootCertificates } from 'node:tls'
import { ConductorError, UsageError } from '../../errors/index.js'
import { signCommandToken } from './keys.js'
import type { Io } from '../output.js'

// The remote side of `conductor action run --remote`: signs a short-lived token bound to one
// command, POSTs the arguments as JSON to the gateway (through Caddy) and replays the NDJSON
// frames on its own stdout/stderr as they arrive. TLS is always verified; --ca-file adds a CA
// (Caddy's local CA for `tls internal`) to the system ones, it never replaces verification.

export class RemoteRefused extends ConductorError {
  override readonly code = 'CND_REMOTE_REFUSED'
}
export class RemoteFailed extends ConductorError {
  override readonly code = 'CND_REMOTE_FAILED'
}

export interface RemoteRun {
  url: string
  keyFile: string
  issuer?: string | undefined
  caFile?: string | undefined
  service: string
  command: string
  args: string[]
  ttlSec?: number | undefined
}

export interface PreparedRemote {
  base: URL
  /** The command's URL on the gateway (https: or, for loopback only, http:). */
  url: URL
  /** A freshly signed single-use token bound to this command. */
  token: string
  /** Trusted CAs when --ca-file is given (system ones plus it), else undefined (system ones). */
  ca: string[] | undefined
}

/** Checks the URL, reads the CA file and signs the token: shared by the POST and the WebSocket (-it) clients. */
export async function prepareRemote(opts: RemoteRun): Promise<PreparedRemote> {
  let base: URL
  try {
    base = new URL(opts.url)
  } catch {
    throw new UsageError(`--remote must be a URL like https://host[:port], got "${opts.url}"`)
  }
  // Plain HTTP only to this machine (development): a token must never cross a network in clear.
  if (base.protocol !== 'https:' && !(base.protocol === 'http:' && isLoopback(base.hostname)))
    throw new UsageError('--remote must be an https:// URL (http:// only for loopback addresses)')
  const ca = opts.caFile === undefined ? undefined : readCa(opts.caFile)
  const token = await signCommandToken({
    privateKeyFile: opts.keyFile,
    issuer: opts.issuer ?? path.basename(opts.keyFile).replace(/\.key$/, ''),
    audience: base.hostname.replace(/^\[|\]$/g, ''),
    service: opts.service,
    command: opts.command,
    ttlSec: opts.ttlSec
  })
  const url = new URL(
    `${base.pathname.replace(/\/$/, '')}/.conductor/services/${encodeURIComponent(opts.service)}/commands/${encodeURIComponent(opts.command)}`,
    base
  )
  return { base, url, token, ca }
}

/** The error for a refused or failed request (401/403/404/409/...), with the gateway's error code. */
export function remoteHttpError(opts: RemoteRun, base: URL, status: number | undefined, text: string): ConductorError {
  let code = ''
  let message = ''
  try {
    const body = JSON.parse(text) as { error?: string; message?: string }
    code = String(body.error ?? '')
    message = typeof body.message === 'string' ? `: ${body.message}` : ''
  } catch {
    /* not JSON */
  }
  const what = `${opts.service} ${opts.command} on ${base.host}`
  if (status === 401 || status === 403)
    return new RemoteRefused(
      `remote refused ${what}: HTTP ${status} ${code}; check the key is in the command's policy with its authorization (conductor key show), and the clocks of both machines`
    )
  if (status === 404)
    return new RemoteRefused(`remote has no remote command ${what}: HTTP 404 (the command needs a "remote" field)`)
  if (status === 409) return new RemoteRefused(`remote refused ${what}: HTTP 409 ${code}${message}`)
  return new RemoteFailed(`remote ${what} failed: HTTP ${status ?? '?'} ${code}`)
}

/** Runs the command remotely; resolves to its exit status. */
export async function runRemote(opts: RemoteRun, io: Io): Promise<number> {
  const { base, url, token, ca } = await prepareRemote(opts)
  const body = JSON.stringify({ args: opts.args })
  const res = await post(url, body, token, ca)
  if (res.statusCode !== 200) throw remoteHttpError(opts, base, res.statusCode, await readAll(res))
  return await new Promise((resolve, reject) => {
    let buf = ''
    let exit: number | undefined
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      buf += chunk
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (line === '') continue
        let f: { stream?: string; data?: string; exit?: number; reason?: string }
        try {
          f = JSON.parse(line)
        } catch {
          continue
        }
        if (typeof f.exit === 'number') {
          exit = f.exit
          if (typeof f.reason === 'string')
            io.err(`conductor: remote ${opts.service} ${opts.command} ${describeReason(f.reason)}\n`)
        } else if (f.stream === 'stdout' && typeof f.data === 'string') io.out(f.data)
        else if (f.stream === 'stderr' && typeof f.data === 'string') io.err(f.data)
      }
    })
    res.on('end', () =>
      exit !== undefined
        ? resolve(exit)
        : reject(new RemoteFailed("the connection ended before the command's exit status arrived"))
    )
    res.on('error', err => reject(new RemoteFailed(`reading the remote output failed: ${err.message}`)))
  })
}

async function post(url: URL, body: string, token: string, ca: string[] | undefined): Promise<IncomingMessage> {
  const headers = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    accept: 'application/x-ndjson'
  }
  return await new Promise((resolve, reject) => {
    const req =
      url.protocol === 'https:'
        ? httpsRequest(url, { method: 'POST', headers, ...(ca !== undefined ? { ca } : {}) }, resolve)
        : httpRequest(url, { method: 'POST', headers }, resolve)
    // Never echo the request (it carries the token): only the transport's message.
    req.on('error', err => reject(new RemoteFailed(`cannot reach ${url.host}: ${err.message}`)))
    req.end(body)
  })
}

/** What an exit frame's reason means, for the user. */
export function describeReason(reason: string): string {
  if (reason === 'timeout') return 'ran past its timeout_sec: its process group was killed'
  if (reason === 'output-limit') return 'printed more than its max_output_bytes: its process group was killed'
  if (reason === 'gateway-stopping') return 'was killed: the gateway is stopping'
  return `ended: ${reason}`
}

function readCa(file: string): string[] {
  let pem: string
  try {
    pem = readFileSync(file, 'utf8')
  } catch {
    throw new UsageError('cannot read the CA file', file)
  }
  if (!pem.includes('BEGIN CERTIFICATE'))
    throw new UsageError('not a PEM certificate (expected "-----BEGIN CERTIFICATE-----")', file)
  return [...rootCertificates, pem]
}

export async function readAll(res: IncomingMessage): Promise<string> {
  let text = ''
  res.setEncoding('utf8')
  for await (const chunk of res) {
    text += chunk as string
    if (text.length > 65536) break
  }
  return text
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host)
}
