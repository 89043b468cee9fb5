import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { KEEP_ALIVE_MS } from './defaults.js'

// The gateway's HTTP server, in front of Fastify: /auth is answered on the raw fast path
// (auth-fast-path.ts), everything else goes to Fastify's handler. A served gateway (serve.ts)
// listens on it before Fastify and its routes have loaded, so that a restarted gateway answers
// /auth about as soon as Node itself could; what arrives before Fastify is attached waits here
// (requests and WebSocket upgrades, in order) and is handed over once it is, except what `early`
// answers from the loaded state (/healthz).

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void
/** Answers the request and returns true, or returns false to pass it on. */
export type Answerer = (req: IncomingMessage, res: ServerResponse) => boolean

/** A handler that holds requests until a real one is attached, then hands them over in order. */
export class HeldHandler {
  private target: RequestHandler | undefined
  private readonly pending: Array<[IncomingMessage, ServerResponse]> = []

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.target !== undefined) this.target(req, res)
    else this.pending.push([req, res])
  }

  get attached(): boolean {
    return this.target !== undefined
  }

  attach(target: RequestHandler): void {
    this.target = target
    for (const [req, res] of this.pending.splice(0)) target(req, res)
  }
}

export class Front {
  readonly server: Server
  /** The /auth fast path, tried first. */
  fast: Answerer | undefined
  /** Tried only while no handler is attached (serve.ts: /healthz from the state). */
  early: Answerer | undefined
  private readonly held = new HeldHandler()
  private upgrades: Server | undefined
  private readonly pendingUpgrades: Array<[IncomingMessage, Duplex, Buffer]> = []
  /** Requests seen so far (whenQuiet() watches it). */
  private seen = 0
  private closing = false

  /**
   * `holdUpgrades`: the server listens before Fastify's plugins register their upgrade
   * listeners (serve.ts); upgrades are then held here and handed to the server given to attach().
   */
  constructor(opts: { holdUpgrades?: boolean } = {}) {
    this.server = createServer(this.dispatch)
    // Caddy keeps connections open to us; a short keep-alive would make it reconnect often.
    this.server.keepAliveTimeout = KEEP_ALIVE_MS
    if (opts.holdUpgrades === true) {
      this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (this.upgrades === undefined) this.pendingUpgrades.push([req, socket, head])
        else this.upgrades.emit('upgrade', req, socket, head)
      })
    }
  }

  /** Every request of the server (and of a server the upgrades are handed to) comes here. */
  readonly dispatch = (req: IncomingMessage, res: ServerResponse): void => {
    this.seen++
    // Stopping: each answer ends its connection, or a client that keeps sending on a kept-alive
    // one would hold the gateway open until the close grace runs out.
    if (this.closing) res.setHeader('connection', 'close')
    if (this.fast?.(req, res)) return
    if (!this.held.attached && this.early !== undefined && this.early(req, res)) return
    this.held.handle(req, res)
  }

  /**
   * Hands requests to `handler` from now on, the held ones first. `upgrades`: the server whose
   * 'upgrade' and 'clientError' listeners (Fastify's, the interactive commands') get what this
   * server receives; it never listens itself.
   */
  attach(handler: RequestHandler, upgrades?: Server): void {
    if (upgrades !== undefined) {
      this.upgrades = upgrades
      this.server.on('clientError', (err: Error, socket: Duplex) => {
        upgrades.emit('clientError', err, socket)
      })
    }
    this.held.attach(handler)
    if (this.upgrades !== undefined)
      for (const [req, socket, head] of this.pendingUpgrades.splice(0)) this.upgrades.emit('upgrade', req, socket, head)
  }

  /**
   * Resolves once no request has arrived for `quietMs`, or after `maxMs` at most. Loading
   * Fastify blocks the event loop (its modules are required in one synchronous pass): started
   * at once, it would keep the requests waiting in the listen backlog of a restarted gateway
   * (systemd's socket) from the answer the fast path could give them now.
   */
  async whenQuiet(quietMs: number, maxMs: number): Promise<void> {
    const until = performance.now() + maxMs
    let last = -1
    while (this.seen !== last && performance.now() < until) {
      last = this.seen
      await new Promise(resolve => setTimeout(resolve, quietMs))
    }
  }

  /**
   * Stops accepting connections; resolves once every one has ended. Idle connections are closed
   * now and whenever one becomes idle (a response still streaming at the stop ends later).
   */
  async close(): Promise<void> {
    this.closing = true
    if (!this.server.listening) return
    await new Promise<void>(resolve => {
      const idle = setInterval(() => {
        this.server.closeIdleConnections()
      }, 100)
      this.server.close(() => {
        clearInterval(idle)
        resolve()
      })
      this.server.closeIdleConnections()
    })
  }

  /** A server for Fastify that never listens: its requests and upgrades come from this one. */
  innerServer(): Server {
    const inner = createServer(this.dispatch)
    inner.keepAliveTimeout = KEEP_ALIVE_MS
    return inner
  }
}
