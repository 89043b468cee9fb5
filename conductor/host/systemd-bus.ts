import { createConnection } from 'node:net'
import {
  DbusWireError,
  decodeMessage,
  decodeUnitList,
  encodeMethodCall,
  ERROR,
  errorText,
  messageLength
} from './dbus-wire.js'
import type { ListedUnit } from './dbus-wire.js'

// Asks the systemd manager for its units over its private D-Bus socket, the one systemctl itself
// uses (`/run/systemd/private` for root and the system manager, `$XDG_RUNTIME_DIR/systemd/private`
// for a user manager): one connection, SASL EXTERNAL, one ListUnitsByPatterns call. It replaces
// the `systemctl list-units` child of every listing: a fork of the CLI and systemctl's own start
// (~17 ms here, most of a `service ls` above Node's start). Any failure rejects, and the driver
// (systemd.ts) falls back to systemctl, which then says what is wrong in its own words.

const MANAGER_PATH = '/org/freedesktop/systemd1'
const MANAGER_INTERFACE = 'org.freedesktop.systemd1.Manager'

/** The private socket of the manager that `systemctl [--user]` talks to, or undefined (use systemctl). */
export function privateSocket(scopeArgs: string[], env: NodeJS.ProcessEnv): string | undefined {
  if (scopeArgs.length === 1 && scopeArgs[0] === '--user') {
    const runtime = env.XDG_RUNTIME_DIR
    return runtime === undefined || runtime === '' ? undefined : `${runtime}/systemd/private`
  }
  // The system manager's socket is root's only; others go through the system bus (systemctl).
  if (scopeArgs.length === 0 && process.getuid?.() === 0) return '/run/systemd/private'
  return undefined
}

/** Loaded units whose names match the glob patterns, in every state (`systemctl list-units --all`). */
export async function listUnitsOverBus(socket: string, patterns: string[], timeoutMs = 10_000): Promise<ListedUnit[]> {
  const call = encodeMethodCall({
    serial: 1,
    path: MANAGER_PATH,
    interface: MANAGER_INTERFACE,
    member: 'ListUnitsByPatterns',
    args: [[], patterns]
  })
  return await new Promise<ListedUnit[]>((resolve, reject) => {
    const conn = createConnection(socket)
    let authenticated = false
    let pending: Buffer = Buffer.alloc(0)
    let settled = false
    const done = (err: Error | undefined, units?: ListedUnit[]): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      conn.destroy()
      if (err !== undefined) reject(err)
      else resolve(units!)
    }
    const timer = setTimeout(() => done(new Error(`no answer from ${socket} within ${timeoutMs / 1000} s`)), timeoutMs)
    conn.on('error', err => done(err))
    conn.on('close', () => done(new Error(`${socket} closed the connection`)))
    conn.on('connect', () => {
      // SASL EXTERNAL: the server checks the uid against the socket's peer credentials. BEGIN goes
      // with it, as systemctl sends it, and the call only once the server said OK: sd-bus leaves
      // a message that came in the same read as BEGIN unread until more bytes arrive.
      const uid = Buffer.from(String(process.getuid?.() ?? 0), 'ascii').toString('hex')
      conn.write(`\0AUTH EXTERNAL ${uid}\r\nBEGIN\r\n`)
    })
    conn.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      try {
        if (!authenticated) {
          const eol = pending.indexOf('\r\n')
          if (eol < 0) return
          const line = pending.toString('ascii', 0, eol)
          pending = pending.subarray(eol + 2)
          if (!line.startsWith('OK ')) throw new DbusWireError(`${socket} refused authentication: ${line}`)
          authenticated = true
          conn.write(call)
        }
        for (;;) {
          const n = messageLength(pending)
          if (n === undefined || pending.length < n) return
          const msg = decodeMessage(pending.subarray(0, n))
          pending = pending.subarray(n)
          if (msg.replySerial !== 1) continue // a signal or another reply: not ours
          if (msg.type === ERROR) throw new Error(`${msg.errorName ?? 'D-Bus error'}: ${errorText(msg)}`)
          done(undefined, decodeUnitList(msg))
          return
        }
      } catch (err) {
        done(err as Error)
      }
    })
  })
}
