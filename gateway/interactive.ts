import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocketServer, WebSocket } from 'ws'
import { spawnPty, PtySpawnFailed, type PtySession } from '../cgi/index.js'
import { errorAnswer, type ErrorAnswer, type ErrorCode } from '../errors/index.js'
import {
  COMMANDS_PREFIX,
  INTERACTIVE_SUBPROTOCOL,
  encodeControl,
  exitStatusFor,
  parseClientControl,
  type ExitReason,
  type ServerControl
} from '../conductor/model/index.js'
import {
  auditFields,
  commandArgv,
  commandEnv,
  commandMaxOutputBytes,
  commandTimeoutMs,
  type Admit,
  type Allowed,
  type CommandsPluginOptions
} from './command-admission.js'
import { RETRY_AFTER_SEC } from './defaults.js'
import { overloadedAnswer } from './error-reply.js'
import { OutputBudget } from './output-budget.js'
import type { RunningCommands } from './running-commands.js'

// Interactive remote commands (issue 7, item 5): a WebSocket upgrade of
// GET /.conductor/services/SERVICE/commands/NAME, admitted exactly like the POST (policy,
// service context, token bound to the command, jti once) before the handshake completes, so a
// refused client gets a plain HTTP 401/403/404/409 and no process ever starts. Then the
// command runs under a pty and the protocol of conductor/model/remote-protocol.ts applies.
// Disconnect, timeout_sec and the gateway stopping all kill the command's process group.

export interface InteractiveDeps {
  admit: Admit
  running: RunningCommands
  roots: CommandsPluginOptions['roots']
  env: CommandsPluginOptions['env']
  log: FastifyBaseLogger
  /** True when the gateway sheds load (app.ts logs and counts it): upgrades never reach Fastify's hooks. */
  shedUpgrade?: (() => boolean) | undefined
}

/** The client must send its start frame within this. */
export const START_TIMEOUT_MS = 10_000
/** Keystrokes and control frames are small; a larger frame is a misbehaving client. */
export const MAX_FRAME_BYTES = 1024 * 1024
/** Pty output waits (the program blocks on its terminal) while this much is unsent to a slow client. */
const HIGH_WATER_BYTES = 1024 * 1024
/** A ping this often: a peer that stops answering (gone without a FIN) is dropped, and its command killed. */
const PING_MS = 15_000

const COMMAND_PATH = new RegExp(`^${COMMANDS_PREFIX.replace(/\./g, '\\.')}/([^/?]+)/commands/([^/?]+)$`)

export interface InteractiveSessions {
  /** Closes every WebSocket still open (after the commands were stopped): the gateway is going away. */
  closeAll: () => void
}

export function attachInteractive(server: Server, deps: InteractiveDeps): InteractiveSessions {
  // ws is loaded with the first admitted session, not at start: the gateway's cold start is
  // its crash-recovery time, and most gateways never see an interactive command.
  let wss: WebSocketServer | undefined
  const webSockets = async (): Promise<WebSocketServer> => {
    const { WebSocketServer } = await import('ws')
    // Two first sessions at once both get here: the first one's server is kept.
    return (wss ??= new WebSocketServer({
      noServer: true,
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
      handleProtocols: protocols => (protocols.has(INTERACTIVE_SUBPROTOCOL) ? INTERACTIVE_SUBPROTOCOL : false)
    }))
  }
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0]!
    const m = COMMAND_PATH.exec(path)
    if (m === null || String(req.headers.upgrade).toLowerCase() !== 'websocket') {
      // With an 'upgrade' listener, Node hands every request carrying Upgrade here, such as
      // Caddy's forward_auth subrequest for a protected WebSocket route (it copies the
      // client's Connection/Upgrade headers to /auth), or a POST offering h2c: serve it as usual.
      reparseWithoutUpgrade(server, req, socket, head)
      return
    }
    socket.on('error', () => socket.destroy())
    let service: string, name: string
    try {
      service = decodeURIComponent(m[1]!)
      name = decodeURIComponent(m[2]!)
    } catch {
      refuseHttp(socket, errorAnswer('CND_BAD_REQUEST'))
      return
    }
    // Checked before admission, so that a malformed request does not use up its token's jti.
    const protocols = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map(p => p.trim())
    if (
      req.method !== 'GET' ||
      String(req.headers.upgrade).toLowerCase() !== 'websocket' ||
      !protocols.includes(INTERACTIVE_SUBPROTOCOL)
    ) {
      const expected = `expected a WebSocket upgrade (GET) with subprotocol ${INTERACTIVE_SUBPROTOCOL}`
      refuseHttp(socket, errorAnswer('CND_BAD_UPGRADE', expected))
      return
    }
    // Shed like every other request when the gateway is overloaded (each session starts a
    // pty); before admission, so the token's jti stays unused for the retry.
    if (deps.shedUpgrade?.() === true) {
      refuseHttp(socket, overloadedAnswer(), { 'retry-after': String(RETRY_AFTER_SEC) })
      return
    }
    const { headers, rawHeaders, method } = req
    const url = req.url ?? path
    deps
      .admit({ service, name, headers, rawHeaders, method, url, interactive: true, log: deps.log })
      .then(async a => {
        if (!a.ok) {
          refuseHttp(socket, a.answer, a.headers)
          return
        }
        const server = await webSockets()
        server.handleUpgrade(req, socket, head, ws => {
          session(ws, a.allowed, name, deps)
        })
      })
      .catch((err: unknown) => {
        deps.log.error({ err }, 'interactive command: admission or upgrade failed')
        refuseHttp(socket, errorAnswer('CND_AUTH_DENIED'))
      })
  })
  return {
    closeAll: () => {
      for (const ws of wss?.clients ?? []) ws.close(1001, 'gateway stopping')
    }
  }
}

function session(ws: WebSocket, { svc, cmd, decision }: Allowed, name: string, deps: InteractiveDeps): void {
  const started = Date.now()
  let pty: PtySession | undefined
  let isStarted = false
  let finished = false
  const control = (c: ServerControl): void => {
    if (ws.readyState === ws.OPEN) ws.send(encodeControl(c))
  }
  const fail = (error: ErrorCode, message: string): void => {
    control({ type: 'error', error, message })
    ws.close(1008, error)
  }
  const startTimer = setTimeout(
    () => fail('CND_NO_START', `no start frame within ${START_TIMEOUT_MS} ms`),
    START_TIMEOUT_MS
  )
  let alive = true
  const ping = setInterval(() => {
    if (!alive) {
      ws.terminate()
      return
    }
    alive = false
    ws.ping()
  }, PING_MS)
  ws.on('pong', () => {
    alive = true
  })

  const start = async (c: { args: string[]; cols: number; rows: number; term: string }): Promise<void> => {
    const audit = auditFields(svc, name, decision, c.args)
    try {
      pty = await spawnPty({
        argv: commandArgv(cmd, c.args),
        cwd: svc.dir,
        env: commandEnv(svc, name, deps),
        cols: c.cols,
        rows: c.rows,
        term: c.term
      })
    } catch (err) {
      const message = err instanceof PtySpawnFailed ? err.message : `cannot start a pty: ${(err as Error).message}`
      if (ws.readyState === ws.OPEN) ws.send(Buffer.from(message + '\r\n'))
      finish(127, undefined, audit)
      return
    }
    const entry = deps.running.add(pty.pid, commandTimeoutMs(cmd))
    if (ws.readyState !== ws.OPEN) entry.stop('disconnected')
    const p = pty
    let paused = false
    const budget = new OutputBudget(commandMaxOutputBytes(cmd))
    p.onData(d => {
      if (ws.readyState !== ws.OPEN || budget.exceeded) return
      const part = budget.take(d)
      if (part.length > 0) ws.send(part, { binary: true })
      if (budget.exceeded) {
        entry.stop('output-limit')
        return
      }
      // Back-pressure: a slow client blocks the program on its terminal, not the gateway's memory.
      if (!paused && ws.bufferedAmount > HIGH_WATER_BYTES) {
        paused = true
        p.pause()
        const poll = setInterval(() => {
          if (ws.readyState === ws.OPEN && ws.bufferedAmount > HIGH_WATER_BYTES) return
          clearInterval(poll)
          paused = false
          p.resume()
        }, 20)
      }
    })
    ws.on('close', () => {
      if (!finished) entry.stop('disconnected')
    })
    const status = await p.exited
    entry.exited()
    const reason = entry.reason === 'disconnected' ? undefined : entry.reason
    finish(exitStatusFor(reason, status), reason, audit, entry.reason === 'disconnected')
  }

  const finish = (
    code: number,
    reason: ExitReason | undefined,
    audit: Record<string, unknown>,
    disconnected = false
  ): void => {
    if (finished) return
    finished = true
    clearInterval(ping)
    control(reason !== undefined ? { type: 'exit', code, reason } : { type: 'exit', code })
    if (ws.readyState === ws.OPEN) ws.close(1000)
    deps.log.info(
      {
        ...audit,
        interactive: true,
        exit: code,
        ...(reason !== undefined ? { reason } : {}),
        disconnected,
        duration_ms: Date.now() - started
      },
      'remote command'
    )
  }

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) {
      pty?.write(data)
      return
    }
    const c = parseClientControl(data.toString('utf8'))
    if ('invalid' in c) {
      fail('CND_BAD_FRAME', c.invalid)
      return
    }
    if (c.type === 'resize') {
      pty?.resize(c.cols, c.rows)
      return
    }
    if (isStarted) {
      fail('CND_BAD_FRAME', 'start was already sent')
      return
    }
    isStarted = true
    clearTimeout(startTimer)
    start(c).catch((err: unknown) => {
      deps.log.error({ err, service: svc.name, command: name }, 'interactive command failed')
      fail('CND_INTERNAL', 'the session failed')
    })
  })
  ws.on('close', () => {
    clearTimeout(startTimer)
    clearInterval(ping)
  })
  ws.on('error', () => ws.terminate())
}

/** An HTTP answer on a socket whose upgrade is refused (the client sees an ordinary 4xx). */
function refuseHttp(socket: Duplex, answer: ErrorAnswer, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  const { status } = answer
  const all = { ...answer.headers, connection: 'close', 'cache-control': 'no-store', ...headers }
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    ...Object.entries(all).map(([k, v]) => `${k}: ${v.replace(/[\r\n]/g, '')}`)
  ]
  socket.end(lines.join('\r\n') + '\r\n\r\n' + answer.body)
}

/**
 * Serves a request that carries Upgrade but is not ours as an ordinary request: its head is
 * written again without the upgrade headers and put back in front of what the socket still
 * holds (the body, pipelined requests), and the socket is handed to the HTTP server as a new
 * connection, whose parser reads it from the start: bodies, keep-alive and every route work.
 */
function reparseWithoutUpgrade(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}`]
  const raw = req.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!
    const lower = name.toLowerCase()
    if (lower === 'upgrade') continue
    if (lower === 'connection') {
      const tokens = raw[i + 1]!.split(',')
        .map(v => v.trim())
        .filter(v => v !== '' && v.toLowerCase() !== 'upgrade')
      if (tokens.length > 0) lines.push(`${name}: ${tokens.join(', ')}`)
      continue
    }
    lines.push(`${name}: ${raw[i + 1]!}`)
  }
  socket.unshift(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), head]))
  server.emit('connection', socket)
}
