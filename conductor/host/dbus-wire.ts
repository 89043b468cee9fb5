// The few D-Bus messages Conductor exchanges with systemd (systemd-bus.ts), encoded and decoded
// by hand: a method call whose arguments are arrays of strings, and the reply of
// ListUnitsByPatterns. Pure functions over buffers; the wire format is the D-Bus specification's
// ("Message Protocol"): a fixed header, header fields as an array of (code, variant), padding to
// 8 bytes, then the body, every value aligned to its own size from the start of the message.
//
// Why not a library: the maintained Node clients (dbus-next and its forks) load an XML parser and
// a dozen modules at each start, more than the systemctl process they would replace; Conductor
// needs one call.

export const METHOD_CALL = 1
export const ERROR = 3

const FIELD_PATH = 1
const FIELD_INTERFACE = 2
const FIELD_MEMBER = 3
const FIELD_ERROR_NAME = 4
const FIELD_REPLY_SERIAL = 5
const FIELD_DESTINATION = 6
const FIELD_SIGNATURE = 8

class Writer {
  private buf = Buffer.alloc(256)
  length = 0

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return
    const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n))
    this.buf.copy(bigger, 0, 0, this.length)
    this.buf = bigger
  }

  align(n: number): void {
    const pad = (n - (this.length % n)) % n
    this.room(pad)
    this.buf.fill(0, this.length, this.length + pad)
    this.length += pad
  }

  byte(v: number): void {
    this.room(1)
    this.buf[this.length++] = v
  }

  u32(v: number): void {
    this.align(4)
    this.room(4)
    this.buf.writeUInt32LE(v, this.length)
    this.length += 4
  }

  u32At(offset: number, v: number): void {
    this.buf.writeUInt32LE(v, offset)
  }

  /** A string or an object path: u32 length, UTF-8 bytes, NUL. */
  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8')
    this.u32(bytes.length)
    this.raw(bytes)
    this.byte(0)
  }

  /** A signature: one byte of length, the characters, NUL. */
  signature(s: string): void {
    this.byte(s.length)
    this.raw(Buffer.from(s, 'ascii'))
    this.byte(0)
  }

  raw(bytes: Buffer): void {
    this.room(bytes.length)
    bytes.copy(this.buf, this.length)
    this.length += bytes.length
  }

  /** An array of strings (`as`); elements are 4-aligned, right after the length. */
  strings(list: string[]): void {
    this.u32(0)
    const at = this.length - 4
    const start = this.length
    for (const s of list) this.string(s)
    this.u32At(at, this.length - start)
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.length)
  }
}

export interface MethodCall {
  serial: number
  path: string
  interface: string
  member: string
  /** Absent on a peer-to-peer connection (systemd's private socket), required on a bus. */
  destination?: string | undefined
  /** Each argument an array of strings: the body's signature is "as" repeated. */
  args: string[][]
}

/** A METHOD_CALL message, little-endian. */
export function encodeMethodCall(call: MethodCall): Buffer {
  const body = new Writer()
  for (const a of call.args) body.strings(a)
  const signature = 'as'.repeat(call.args.length)

  const w = new Writer()
  w.byte(0x6c) // 'l': little-endian
  w.byte(METHOD_CALL)
  w.byte(0) // flags
  w.byte(1) // protocol version
  w.u32(body.length)
  w.u32(call.serial)
  w.u32(0)
  const fieldsAt = w.length - 4
  const fieldsStart = w.length
  const field = (code: number, sig: string, write: () => void): void => {
    w.align(8)
    w.byte(code)
    w.signature(sig)
    write()
  }
  field(FIELD_PATH, 'o', () => w.string(call.path))
  field(FIELD_INTERFACE, 's', () => w.string(call.interface))
  field(FIELD_MEMBER, 's', () => w.string(call.member))
  if (call.destination !== undefined) field(FIELD_DESTINATION, 's', () => w.string(call.destination!))
  if (signature !== '') field(FIELD_SIGNATURE, 'g', () => w.signature(signature))
  w.u32At(fieldsAt, w.length - fieldsStart)
  w.align(8)
  w.raw(body.bytes())
  return Buffer.from(w.bytes())
}

export class DbusWireError extends Error {
  override name = 'DbusWireError'
}

/** Reads values from `start` in a whole message, aligned from its start (the body starts 8-aligned). */
class Reader {
  pos: number
  constructor(
    private readonly buf: Buffer,
    private readonly littleEndian: boolean,
    start = 0
  ) {
    this.pos = start
  }

  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new DbusWireError('D-Bus message truncated')
  }

  align(n: number): void {
    this.pos += (n - (this.pos % n)) % n
  }

  byte(): number {
    this.need(1)
    return this.buf[this.pos++]!
  }

  u32(): number {
    this.align(4)
    this.need(4)
    const v = this.littleEndian ? this.buf.readUInt32LE(this.pos) : this.buf.readUInt32BE(this.pos)
    this.pos += 4
    return v
  }

  /** A string or an object path (u32 length), or a signature (byte length): the text, then NUL. */
  string(): string {
    return this.text(this.u32(), 'utf8')
  }

  signature(): string {
    return this.text(this.byte(), 'ascii')
  }

  private text(n: number, encoding: BufferEncoding): string {
    this.need(n + 1)
    const s = this.buf.toString(encoding, this.pos, this.pos + n)
    this.pos += n + 1
    return s
  }

  /** Skips one value of a basic or variant type, for header fields Conductor does not read. */
  skip(sig: string): void {
    switch (sig) {
      case 'y':
        this.byte()
        return
      case 'u':
      case 'i':
      case 'b':
        this.u32()
        return
      case 's':
      case 'o':
        this.string()
        return
      case 'g':
        this.signature()
        return
      default:
        throw new DbusWireError(`unexpected D-Bus header field of type "${sig}"`)
    }
  }
}

/** Bytes of the whole message at the start of `buf`, or undefined while its fixed header is incomplete. */
export function messageLength(buf: Buffer): number | undefined {
  if (buf.length < 16) return undefined
  const le = littleEndian(buf)
  const body = le ? buf.readUInt32LE(4) : buf.readUInt32BE(4)
  const fields = le ? buf.readUInt32LE(12) : buf.readUInt32BE(12)
  const header = 16 + fields
  return header + ((8 - (header % 8)) % 8) + body
}

function littleEndian(buf: Buffer): boolean {
  if (buf[0] === 0x6c) return true
  if (buf[0] === 0x42) return false
  throw new DbusWireError(`not a D-Bus message (endianness byte 0x${(buf[0] ?? 0).toString(16)})`)
}

export interface Message {
  type: number
  serial: number
  replySerial?: number | undefined
  errorName?: string | undefined
  signature: string
  littleEndian: boolean
  /** The whole message; the body starts at bodyAt. */
  buf: Buffer
  bodyAt: number
}

/** The header of one complete message (messageLength bytes). */
export function decodeMessage(buf: Buffer): Message {
  const le = littleEndian(buf)
  const r = new Reader(buf, le, 1)
  const type = r.byte()
  r.byte() // flags
  r.byte() // version
  r.u32() // body length
  const serial = r.u32()
  const fieldsLength = r.u32()
  const end = r.pos + fieldsLength
  const msg: Message = { type, serial, signature: '', littleEndian: le, buf, bodyAt: 0 }
  while (r.pos < end) {
    r.align(8)
    const code = r.byte()
    const sig = r.signature()
    if (code === FIELD_REPLY_SERIAL && sig === 'u') msg.replySerial = r.u32()
    else if (code === FIELD_ERROR_NAME && sig === 's') msg.errorName = r.string()
    else if (code === FIELD_SIGNATURE && sig === 'g') msg.signature = r.signature()
    else r.skip(sig)
  }
  r.pos = end
  r.align(8)
  msg.bodyAt = r.pos
  return msg
}

/** The first string of an ERROR message's body (its human-readable text), if it has one. */
export function errorText(msg: Message): string {
  if (!msg.signature.startsWith('s')) return ''
  return new Reader(msg.buf, msg.littleEndian, msg.bodyAt).string()
}

/** A unit as systemd.ts's UnitState: its name, active state and sub-state. */
export interface ListedUnit {
  unit: string
  active: string
  sub: string
}

/** The body of ListUnits/ListUnitsByPatterns: a(ssssssouso), of which the name and two states. */
export function decodeUnitList(msg: Message): ListedUnit[] {
  if (msg.signature !== 'a(ssssssouso)')
    throw new DbusWireError(`unexpected reply signature "${msg.signature}" (expected a(ssssssouso))`)
  const r = new Reader(msg.buf, msg.littleEndian, msg.bodyAt)
  const length = r.u32()
  r.align(8)
  const end = r.pos + length
  const out: ListedUnit[] = []
  while (r.pos < end) {
    r.align(8)
    const unit = r.string()
    r.string() // description
    r.string() // load state
    const active = r.string()
    const sub = r.string()
    r.string() // following
    r.string() // object path
    r.u32() // job id
    r.string() // job type
    r.string() // job object path
    out.push({ unit, active, sub })
  }
  return out
}
