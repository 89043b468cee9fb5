import { readFileSync } from 'node:fs'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import path from 'node:path'
import { rootCertificates } from 'node:tls'
import { ConductorError, UsageError } from './errors.js'
import { signCommandToken } from './keys.js'
import type { Io } from './output.js'

// The remote side of `conductor action run --remote`: signs a short-lived token bound to one
// command, POSTs the arguments as JSON to the gateway (through Caddy) and replays the NDJSON
// frames on its own stdout/stderr as they arrive. TLS is always verified; --ca-file adds a CA
// (Caddy's local CA for `tls internal`) to the system ones, it never replaces verification.

export class RemoteRefused extends ConductorError { override readonly code = 'CND_REMOTE_REFUSED' }
export class RemoteFailed extends ConductorError { override readonly code = 'CND_REMOTE_FAILED' }

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

/** Runs the command remotely; resolves to its exit status. */
export async function runRemote (opts: RemoteRun, io: Io): Promise<number> {
  let base: URL
  try { base = new URL(opts.url) } catch { throw new UsageError(`--remote must be a URL like https://host[:port], got "${opts.url}"`) }
  // Plain HTTP only to this machine (development): a token must never cross a network in clear.
  if (base.protocol !== 'https:' && !(base.protocol === 'http:' && isLoopback(base.hostname))) throw new UsageError('--remote must be an https:// URL (http:// only for loopback addresses)')
  const ca = opts.caFile === undefined ? undefined : readCa(opts.caFile)
  const token = await signCommandToken({
    privateKeyFile: opts.keyFile,
    issuer: opts.issuer ?? path.basename(opts.keyFile).replace(/\.key$/, ''),
    audience: base.hostname.replace(/^\[|\]$/g, ''),
    service: opts.service,
    command: opts.command,
    ttlSec: opts.ttlSec
  })
  const url = new URL(`${base.pathname.replace(/\/$/, '')}/.conductor/services/${encodeURIComponent(opts.service)}/commands/${encodeURIComponent(opts.command)}`, base)
  const body = JSON.stringify({ args: opts.args })
  const res = await post(url, body, token, ca)
  if (res.statusCode !== 200) {
    const text = await readAll(res)
    let code = ''
    try { code = String((JSON.parse(text) as { error?: string }).error ?? '') } catch { /* not JSON */ }
    const what = `${opts.service} ${opts.command} on ${base.host}`
    if (res.statusCode === 401 || res.statusCode === 403) throw new RemoteRefused(`remote refused ${what}: HTTP ${res.statusCode} ${code}; check the key is in the command's policy with its authorization (conductor key show), and the clocks of both machines`)
    if (res.statusCode === 404) throw new RemoteRefused(`remote has no remote command ${what}: HTTP 404 (the command needs a "remote" field)`)
    throw new RemoteFailed(`remote ${what} failed: HTTP ${res.statusCode ?? '?'} ${code}`)
  }
  return await new Promise((resolve, reject) => {
    let buf = ''
    let exit: number | undefined
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => {
      buf += chunk
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (line === '') continue
        let f: { stream?: string, data?: string, exit?: number }
        try { f = JSON.parse(line) } catch { continue }
        if (typeof f.exit === 'number') exit = f.exit
        else if (f.stream === 'stdout' && typeof f.data === 'string') io.out(f.data)
        else if (f.stream === 'stderr' && typeof f.data === 'string') io.err(f.data)
      }
    })
    res.on('end', () => exit !== undefined ? resolve(exit) : reject(new RemoteFailed('the connection ended before the command\'s exit status arrived')))
    res.on('error', err => reject(new RemoteFailed(`reading the remote output failed: ${err.message}`)))
  })
}

async function post (url: URL, body: string, token: string, ca: string[] | undefined): Promise<IncomingMessage> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), accept: 'application/x-ndjson' }
  return await new Promise((resolve, reject) => {
    const req = url.protocol === 'https:'
      ? httpsRequest(url, { method: 'POST', headers, ...(ca !== undefined ? { ca } : {}) }, resolve)
      : httpRequest(url, { method: 'POST', headers }, resolve)
    // Never echo the request (it carries the token): only the transport's message.
    req.on('error', err => reject(new RemoteFailed(`cannot reach ${url.host}: ${err.message}`)))
    req.end(body)
  })
}

function readCa (file: string): string[] {
  let pem: string
  try { pem = readFileSync(file, 'utf8') } catch { throw new UsageError('cannot read the CA file', file) }
  if (!pem.includes('BEGIN CERTIFICATE')) throw new UsageError('not a PEM certificate (expected "-----BEGIN CERTIFICATE-----")', file)
  return [...rootCertificates, pem]
}

async function readAll (res: IncomingMessage): Promise<string> {
  let text = ''
  res.setEncoding('utf8')
  for await (const chunk of res) { text += chunk as string; if (text.length > 65536) break }
  return text
}

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host)
}
