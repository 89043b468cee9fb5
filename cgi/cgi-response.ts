import { MAX_HEADER_BYTES } from './defaults.js'
import { CgiHeaderInvalid, CgiHeaderTooLarge } from './errors.js'

// CGI response header parsing (RFC 3875 §6). Incremental: bytes are fed as the process prints
// them, and the body starts streaming as soon as the blank line is seen. Anything that could
// smuggle a header or split the response (bare CR, NUL, obs-fold, a line without a colon, a
// name with spaces) rejects the whole response: 502 rather than a half-trusted answer.

export type CgiResponseKind = 'document' | 'client-redirect' | 'local-redirect'

export interface CgiHead {
  kind: CgiResponseKind
  status: number
  reason?: string | undefined
  /** Headers to send, in order, with the names as printed (Status is consumed). */
  headers: Array<[string, string]>
  /** local-redirect: the path to serve instead (RFC 3875 §6.2.2). */
  location?: string | undefined
  /** Bytes after the header block: the start of the body. */
  rest: Buffer
}

/** Response headers a script may not set: the gateway owns framing and the connection. */
const DROPPED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'trailer', 'upgrade'])
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
// Visible ASCII, space, tab and obs-text; no CR, LF, NUL or other controls.
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

export class CgiHeaderParser {
  private buf: Buffer = Buffer.alloc(0)

  constructor(private readonly maxBytes: number = MAX_HEADER_BYTES) {}

  /** Feeds bytes; returns the head once the blank line arrived, else undefined. Throws CgiHeaderInvalid/TooLarge. */
  push(chunk: Buffer): CgiHead | undefined {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    const end = findHeaderEnd(this.buf)
    if (end === undefined) {
      if (this.buf.length > this.maxBytes)
        throw new CgiHeaderTooLarge(`the CGI header block is larger than ${this.maxBytes} bytes`)
      return undefined
    }
    if (end.headerEnd > this.maxBytes)
      throw new CgiHeaderTooLarge(`the CGI header block is larger than ${this.maxBytes} bytes`)
    const head = parseHeaderBlock(this.buf.subarray(0, end.headerEnd).toString('latin1'))
    return { ...head, rest: this.buf.subarray(end.bodyStart) }
  }

  /** Bytes received so far without a complete header block (for error messages). */
  get pending(): number {
    return this.buf.length
  }
}

/** Parses the lines of a header block (without the blank line). */
export function parseHeaderBlock(block: string): Omit<CgiHead, 'rest'> {
  const lines = block === '' ? [] : block.split('\n').map(l => (l.endsWith('\r') ? l.slice(0, -1) : l))
  const headers: Array<[string, string]> = []
  let status: number | undefined
  let reason: string | undefined
  let location: string | undefined
  for (const [i, line] of lines.entries()) {
    if (line.startsWith(' ') || line.startsWith('\t'))
      throw new CgiHeaderInvalid(`CGI header line ${i + 1}: continuation lines (obs-fold) are not allowed`)
    const colon = line.indexOf(':')
    if (colon <= 0) throw new CgiHeaderInvalid(`CGI header line ${i + 1}: expected "Name: value"`)
    const name = line.slice(0, colon)
    const value = line.slice(colon + 1).trim()
    if (!TOKEN.test(name)) throw new CgiHeaderInvalid(`CGI header line ${i + 1}: invalid header name`)
    if (!VALUE.test(value))
      throw new CgiHeaderInvalid(`CGI header "${name}": the value contains CR, NUL or another control character`)
    const lower = name.toLowerCase()
    if (lower === 'status') {
      const m = /^(\d\d\d)(?: (.*))?$/.exec(value)
      if (m === null) throw new CgiHeaderInvalid(`CGI Status header "${value}": expected "NNN reason"`)
      status = Number(m[1])
      // The script's status is the final answer: a 1xx would be read by the client as an
      // interim one, and it would take the next response on the connection for this one.
      if (status < 200 || status > 599) {
        throw new CgiHeaderInvalid(`CGI Status header "${value}": the final status must be 200-599`)
      }
      reason = m[2]
      continue
    }
    if (lower === 'location') location = value
    if (DROPPED.has(lower)) continue
    headers.push([name, value])
  }
  if (location !== undefined) {
    // §6.2.2: a local redirect is a lone Location holding a path; the server serves that path.
    if (location.startsWith('/') && !location.startsWith('//') && status === undefined && headers.length === 1) {
      return { kind: 'local-redirect', status: 200, headers: [], location }
    }
    return { kind: 'client-redirect', status: status ?? 302, reason, headers }
  }
  return { kind: 'document', status: status ?? 200, reason, headers }
}

function findHeaderEnd(buf: Buffer): { headerEnd: number; bodyStart: number } | undefined {
  // The block may start with the blank line (no headers at all).
  if (buf[0] === 0x0a) return { headerEnd: 0, bodyStart: 1 }
  if (buf[0] === 0x0d && buf[1] === 0x0a) return { headerEnd: 0, bodyStart: 2 }
  let from = 0
  for (;;) {
    const nl = buf.indexOf(0x0a, from)
    if (nl === -1) return undefined
    if (buf[nl + 1] === 0x0a) return { headerEnd: nl, bodyStart: nl + 2 }
    if (buf[nl + 1] === 0x0d && buf[nl + 2] === 0x0a) return { headerEnd: nl, bodyStart: nl + 3 }
    if (buf[nl + 1] === undefined || (buf[nl + 1] === 0x0d && buf[nl + 2] === undefined)) return undefined
    from = nl + 1
  }
}
