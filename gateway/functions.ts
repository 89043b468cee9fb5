import type { IncomingMessage } from 'node:http'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import {
  FunctionRunner,
  Spawner,
  findSpawnerBinary,
  parseFunctionDirectives,
  splitPath,
  defaults as cgiDefaults,
  type FunctionSpec,
  type RequestInfo,
  type SystemdManager
} from '../cgi/index.js'
import {
  baseVariables,
  functionVariables,
  listFunctions,
  serviceVariables,
  FUNCTIONS_PREFIX,
  type FunctionInfo,
  type Roots,
  type Service
} from '../conductor/model/index.js'
import { isProcessAlive } from '../cgi/index.js'
import type { Decision } from '../policies/index.js'
import { identityHeaders, type Authorizer } from './authorize.js'
import { errorAnswer, type ErrorCode } from '../errors/index.js'
import { sendError } from './error-reply.js'
import { repeatedDecisionHeader } from './repeated-headers.js'
import type { StateHolder, GatewayState } from './state.js'

// Functions in the gateway: /.conductor/functions/ID/* runs the function ID (CGI,
// http-stdio, warm pools, daemons: cgi/). Every request passes the function's policy here,
// whichever listener it came in on, so no path reaches a function without its policy: one
// decision per request on this hop (Caddy's forward_auth asked /auth on its own hop), and one
// more per local redirect target. The function's identity is built once from that Decision
// (identityOf), never read back from header strings. With a policy but no authorizer wired
// in, the answer is 403: fail closed.

export interface FunctionsPluginOptions {
  state: StateHolder
  roots: Partial<Pick<Roots, 'root' | 'run'>>
  /** The gateway's policy decision (authorize.ts); the functions plugin never decides access itself. */
  authorize?: Authorizer | undefined
  /** Where parallel daemons get their sockets (default ROOT/run/conductor/functions, else tmp). */
  socketDir?: string | undefined
  /** Base environment (PATH...); default baseVariables(roots). */
  env?: NodeJS.ProcessEnv | undefined
  /**
   * Path of the conductor-spawner fork server; false: no shared one (single-shot CGI forks the
   * gateway); default: the built one, if any. A function with service_directives always runs
   * through a fork server of its own: this path, else the built one.
   */
  spawner?: string | false | undefined
  /** The systemd manager that makes the scopes of functions with service_directives (host.json scope); default system. */
  systemdScope?: SystemdManager | undefined
}

interface Registered {
  info: FunctionInfo
  runner: FunctionRunner
  fingerprint: string
}

/** The live registry, exposed for stats (tests, metrics). */
export interface FunctionsRegistry {
  /** Waits for the fork server; true when single-shot CGI goes through it. */
  spawner: () => Promise<boolean>
  get: (id: string) => Registered | undefined
  all: () => Registered[]
  close: () => Promise<void>
}

const IDENTITY_PREFIX = 'x-conductor-'

/** Function runners by id, built from the gateway state and rebuilt only when a reload changes a function. */
export function createFunctionsRegistry(
  opts: FunctionsPluginOptions,
  log: (msg: string, err?: unknown) => void = () => {}
): FunctionsRegistry & { map: () => Map<string, Registered> } {
  const registry = new Map<string, Registered>()
  let synced: GatewayState | undefined
  // A test or rootless root gets a short tmp path: unix socket paths are limited to 107 bytes.
  // Only a real host root ('/') uses /run/conductor/functions; a gateway built without roots
  // (other areas' tests) never touches /run.
  const isHostRoot = opts.roots.root === '/' && opts.roots.run !== undefined
  const socketDir = opts.socketDir ?? (isHostRoot ? path.join(opts.roots.run!, 'functions') : tmpSocketDir())
  mkdirSync(socketDir, { recursive: true, mode: 0o700 })
  // The fork server's socket lets whoever connects run programs as the gateway: the directory
  // stays private to the gateway's user whatever it was created with.
  chmodSync(socketDir, 0o700)
  let closed = false
  // The fork server for CGI and http-stdio workers, when its binary is built (cgi/spawner/); else plain
  // child_process. It starts in the background; requests use it once it is up.
  const spawnerBinary =
    opts.spawner === false ? undefined : (opts.spawner ?? findSpawnerBinary(opts.env ?? process.env))
  const spawner = spawnerBinary === undefined ? undefined : new Spawner(spawnerBinary, socketDir)
  let spawnerStarted = false
  const isolation = {
    spawnerBinary: typeof opts.spawner === 'string' ? opts.spawner : findSpawnerBinary(opts.env ?? process.env),
    manager: opts.systemdScope ?? 'system',
    env: opts.env ?? process.env
  }
  const startSpawner = (): void => {
    if (spawner === undefined || spawnerStarted) return
    spawnerStarted = true
    spawner
      .start()
      .catch(err =>
        log(`conductor-spawner did not start; single-shot CGI forks the gateway instead: ${String(err)}`, err)
      )
  }
  // Runners outlive requests (warm pools) and are rebuilt only when a reload changes them.
  const sync = (): void => {
    const state = opts.state.current
    if (state === synced || closed) return
    synced = state
    const seen = new Set<string>()
    for (const { service, info } of listFunctions(state.services)) {
      seen.add(info.id)
      const spec = toSpec(service, info, opts, socketDir)
      const fingerprint = JSON.stringify(spec)
      const prev = registry.get(info.id)
      if (prev !== undefined && prev.fingerprint === fingerprint) {
        prev.info = info
        continue
      }
      if (prev !== undefined) void prev.runner.close()
      // The fork server starts with the first CGI or http-stdio function, not before (a
      // parallel daemon is started once and lives long: it does not need it).
      if (spec.mode !== 'parallel') startSpawner()
      registry.set(info.id, { info, runner: new FunctionRunner(spec, log, spawner, isolation), fingerprint })
    }
    for (const [id, r] of registry)
      if (!seen.has(id)) {
        registry.delete(id)
        void r.runner.close()
      }
  }
  sync()
  return {
    spawner: async () => {
      if (spawner !== undefined && spawnerStarted) await spawner.start().catch(() => {})
      return spawner?.isRunning === true
    },
    get: (id: string) => {
      sync()
      return registry.get(id)
    },
    all: () => {
      sync()
      return [...registry.values()]
    },
    map: () => {
      sync()
      return registry
    },
    close: async () => {
      closed = true
      await spawner?.stop()
      await Promise.all(
        [...registry.values()].map(async r => {
          await r.runner.close()
        })
      )
      registry.clear()
      if (opts.socketDir === undefined && !isHostRoot) rmSync(socketDir, { recursive: true, force: true })
    }
  }
}

export async function functionsPlugin(
  app: FastifyInstance,
  opts: FunctionsPluginOptions & { registry: ReturnType<typeof createFunctionsRegistry> }
): Promise<void> {
  const functions = opts.registry
  app.addHook('onClose', async () => {
    await functions.close()
  })

  // The body is the function's: never parsed, streamed into the process as it arrives.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, _payload, done) => {
    done(null)
  })

  const handler = async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply): Promise<void> => {
    const registry = functions.map()
    const fn = registry.get(request.params.id)
    if (fn === undefined) {
      await sendError(reply, errorAnswer('CND_FUNCTION_NOT_FOUND', 'no such function'))
      return
    }
    const raw = request.raw
    const [rawPath = '/', query = ''] = splitOnce(raw.url ?? '/', '?')
    // Client-sent identity headers are dropped: only the policy check may set them.
    const clientHeaders: Record<string, string | string[] | undefined> = {}
    for (const [k, v] of Object.entries(raw.headers)) if (!k.startsWith(IDENTITY_PREFIX)) clientHeaders[k] = v
    const repeated = repeatedDecisionHeader(raw.rawHeaders)
    // The policy decision of one function for this request (its credentials, this method and
    // path): the headers and identity the function then sees, or the refusal.
    const admit = async (target: Registered, method: string, publicPath: string, q: string): Promise<Admitted> => {
      if (target.info.policy === undefined) return { ok: true, headers: clientHeaders, identity: undefined }
      // A header the decision reads, sent twice: Node decides on one copy, the function could read another.
      if (repeated !== undefined) {
        const message = `repeated ${repeated} header`
        return { ok: false, headers: {}, error: 'CND_HEADER_REPEATED', message }
      }
      const headers = { ...clientHeaders }
      const decision = await decide(opts.authorize, target.info, raw, method, publicPath, q, headers)
      if (!decision.allow) {
        const error = decision.status === 401 ? 'CND_AUTH_REQUIRED' : 'CND_AUTH_DENIED'
        const refusal: Record<string, string> = {}
        if (decision.challenge !== undefined) refusal['www-authenticate'] = decision.challenge
        return { ok: false, headers: refusal, error }
      }
      const identity = identityOf(decision)
      return { ok: true, headers: { ...headers, ...identity.headers }, identity }
    }
    const publicPath =
      fn.info.fn.route !== undefined ? rawPath.slice(`${FUNCTIONS_PREFIX}/${fn.info.id}`.length) || '/' : rawPath
    const first = await admit(fn, raw.method ?? 'GET', publicPath, query)
    if (!first.ok) {
      await sendError(reply, errorAnswer(first.error, first.message), first.headers)
      return
    }
    reply.hijack()
    try {
      let info = requestInfo(raw, publicPath, query, fn.info.pathInfoStrip, first.headers, first.identity)
      let target = fn
      let req: IncomingMessage = raw
      for (let hop = 0; ; hop++) {
        const result = await target.runner.serve(req, reply.raw, info)
        if (result.localRedirect === undefined) return
        // RFC 3875 §6.2.2: serve the other path ourselves when it is a function of ours with the
        // same policy (GET, no body) whose own decision (its authorization: function:OTHER) allows
        // this request's credentials; else tell the client to go there, where the target's own
        // route and policy answer. Sharing a policy does not share authorizations (issue 13).
        const next = hop < cgiDefaults.MAX_LOCAL_REDIRECTS ? resolveLocal(result.localRedirect, registry) : undefined
        const policy = next?.fn.info.policy
        const candidate = next !== undefined && (policy === undefined || policy === target.info.policy)
        const admitted = candidate ? await admit(next.fn, 'GET', next.publicPath, next.query) : undefined
        if (next === undefined || admitted === undefined || !admitted.ok) {
          reply.raw.writeHead(302, { location: result.localRedirect, 'content-length': '0' }).end()
          return
        }
        target = next.fn
        req = emptyRequest(raw, admitted.headers)
        const headers = { ...admitted.headers, 'content-length': undefined, 'content-type': undefined }
        info = requestInfo(req, next.publicPath, next.query, target.info.pathInfoStrip, headers, admitted.identity)
        info.method = 'GET'
      }
    } catch (err) {
      // Fastify no longer answers a hijacked reply: whatever threw, the client gets a 502
      // (or a cut connection once headers are out) instead of waiting forever. Fail closed.
      request.log.error({ err }, `function ${fn.info.id}: ${String(err)}`)
      if (reply.raw.headersSent || reply.raw.destroyed) {
        reply.raw.destroy()
        return
      }
      const answer = errorAnswer('CND_CGI_BAD_GATEWAY', 'function failed')
      reply.raw.writeHead(answer.status, { ...answer.headers, connection: 'close' }).end(answer.body)
    }
  }
  app.all(`${FUNCTIONS_PREFIX}/:id`, handler)
  app.all(`${FUNCTIONS_PREFIX}/:id/*`, handler)
}

/** What a function sees of the decision that admitted it, built once from that Decision. */
interface Identity {
  /** X-Conductor-* (lower case), the same headers /auth gives Caddy on an allow (authorize.ts). */
  headers: Record<string, string>
  /** AUTH_TYPE and REMOTE_USER: the verified subject, else the matched entry's peer-id. */
  authType: string
  user?: string | undefined
}

type Admitted =
  | { ok: true; headers: Record<string, string | string[] | undefined>; identity: Identity | undefined }
  | { ok: false; headers: Record<string, string>; error: ErrorCode; message?: string | undefined }

function identityOf(d: Decision): Identity {
  return { headers: identityHeaders(d), authType: 'Bearer', user: d.subject ?? d.meta['peer-id'] }
}

/** The function's policy decided for this request (its public method, URI and host). */
async function decide(
  authorize: Authorizer | undefined,
  fn: FunctionInfo,
  raw: IncomingMessage,
  method: string,
  publicPath: string,
  query: string,
  headers: Record<string, string | string[] | undefined>
): Promise<Decision> {
  const refused: Decision = {
    allow: false,
    status: 403,
    policy: fn.policy!,
    reason: 'no authorizer',
    meta: {},
    authorizations: []
  }
  if (authorize === undefined) return refused
  try {
    const host = String(raw.headers['x-forwarded-host'] ?? raw.headers.host ?? '')
    const uri = query === '' ? publicPath : `${publicPath}?${query}`
    return await authorize({ policy: fn.policy!, authorization: fn.authorization, headers, method, uri, host })
  } catch {
    // An authorizer that fails denies.
    return { ...refused, reason: 'authorizer failed' }
  }
}

const TMP_SOCKET_PREFIX = 'cnd-fn-'
const TMP_SOCKET_DIR = new RegExp(`^${TMP_SOCKET_PREFIX}(\\d+)-`)

/**
 * A short private directory in /tmp for a gateway's sockets, named after its process. A gateway
 * removes its own when it closes; one killed (SIGKILL, a crash) cannot, so each new one first
 * removes those of this user whose process is gone.
 */
function tmpSocketDir(): string {
  const tmp = os.tmpdir()
  for (const name of readdirSync(tmp)) {
    const pid = TMP_SOCKET_DIR.exec(name)?.[1]
    if (pid === undefined || isProcessAlive(Number(pid))) continue
    const dir = path.join(tmp, name)
    try {
      if (statSync(dir).uid === process.getuid?.()) rmSync(dir, { recursive: true, force: true })
    } catch {
      /* removed meanwhile by another gateway */
    }
  }
  return mkdtempSync(path.join(tmp, `${TMP_SOCKET_PREFIX}${process.pid}-`))
}

function toSpec(service: Service, info: FunctionInfo, opts: FunctionsPluginOptions, socketDir: string): FunctionSpec {
  const directives = info.fn.service_directives ?? []
  const env = functionVariables(
    serviceVariables(
      service,
      baseVariables(opts.roots.root === undefined ? undefined : { root: opts.roots.root }, opts.env)
    ),
    info.id
  )
  return {
    id: info.id,
    format: info.format,
    mode: info.mode,
    exec: info.fn.exec,
    cwd: service.dir,
    env,
    minWarm: info.minWarm,
    maxWorkers: info.maxWorkers,
    maxQueue: info.maxQueue,
    maxRequests: info.maxRequests,
    idleTimeoutMs: info.idleTimeoutSec * 1000,
    timeoutMs: info.timeoutSec * 1000,
    maxBodyBytes: info.maxBodyBytes,
    stderrAsStdout: info.fn.stderr_as_stdout ?? false,
    responseHeaders: (info.fn.response_headers ?? []).map(h => {
      const i = h.indexOf(':')
      return [h.slice(0, i).trim(), h.slice(i + 1).trim()] as [string, string]
    }),
    noResponseHeaders: info.fn.no_response_headers ?? false,
    stripPrefix: info.fn.strip_prefix ?? false,
    socketDir,
    // Checked at load (service-schema.ts): only the split into scope properties and rlimits is used here.
    limits: directives.length > 0 ? parseFunctionDirectives(directives).limits : undefined
  }
}

function requestInfo(
  raw: IncomingMessage,
  publicPath: string,
  query: string,
  strip: number,
  headers: Record<string, string | string[] | undefined>,
  identity: Identity | undefined
): RequestInfo {
  const { scriptName, pathInfo } = splitPath(publicPath, strip)
  const hostHeader = String(headers['x-forwarded-host'] ?? headers.host ?? '')
  const [hostName, hostPort] = splitHost(hostHeader)
  const scheme = String(headers['x-forwarded-proto'] ?? 'http')
    .split(',')[0]!
    .trim()
  const xff = headers['x-forwarded-for']
  // Caddy appends the peer address last; earlier entries are whatever the client claimed.
  const forwarded = (Array.isArray(xff) ? xff.join(',') : (xff ?? ''))
    .split(',')
    .map(s => s.trim())
    .filter(s => s !== '')
    .pop()
  return {
    method: raw.method ?? 'GET',
    path: publicPath,
    query,
    scriptName,
    pathInfo,
    headers,
    remoteAddr: forwarded ?? raw.socket.remoteAddress ?? '127.0.0.1',
    remotePort:
      forwarded === undefined && raw.socket.remotePort !== undefined ? String(raw.socket.remotePort) : undefined,
    serverName: hostName !== '' ? hostName : 'localhost',
    serverPort: hostPort ?? String(headers['x-forwarded-port'] ?? (scheme === 'https' ? 443 : 80)),
    protocol: `HTTP/${raw.httpVersion}`,
    scheme,
    authType: identity?.authType,
    remoteUser: identity?.user
  }
}

function resolveLocal(
  location: string,
  registry: Map<string, Registered>
): { fn: Registered; publicPath: string; query: string } | undefined {
  const [p = '/', q = ''] = splitOnce(location, '?')
  if (!p.startsWith(FUNCTIONS_PREFIX + '/')) return undefined
  const id = p.slice(FUNCTIONS_PREFIX.length + 1).split('/')[0]!
  const fn = registry.get(id)
  if (fn === undefined) return undefined
  const publicPath = fn.info.fn.route !== undefined ? p.slice(`${FUNCTIONS_PREFIX}/${id}`.length) || '/' : p
  return { fn, publicPath, query: q }
}

function emptyRequest(raw: IncomingMessage, headers: Record<string, string | string[] | undefined>): IncomingMessage {
  const r = Readable.from([]) as unknown as IncomingMessage
  Object.assign(r, {
    method: 'GET',
    url: raw.url,
    httpVersion: raw.httpVersion,
    socket: raw.socket,
    headers: { ...headers, 'content-length': undefined, 'content-type': undefined, 'transfer-encoding': undefined }
  })
  return r
}

function splitHost(host: string): [string, string | undefined] {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host)
  return m === null ? [host, undefined] : [m[1]!, m[2]]
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep)
  return i === -1 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)]
}
