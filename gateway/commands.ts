import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { constants } from 'node:os'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { baseVariables, commandVariables, killGroup, COMMANDS_PREFIX, serviceVariables, type Command, type Roots, type Service } from '../conductor/index.js'
import type { Decision } from '../policies/index.js'
import type { Authorizer } from './authorize.js'
import { ReplayCache } from './replay-cache.js'
import type { StateHolder } from './state.js'

// Remote commands (issue 7): POST /.conductor/services/SERVICE/commands/NAME runs a command the
// service exposes with `remote`, in the service context, and streams its output back as NDJSON
// frames while it runs. The gateway checks the command's policy itself (whatever Caddy did),
// binds a JWT to this one command through its conductor_service/conductor_command claims, and
// accepts each jti once. Arguments arrive as a JSON array of strings and become argv entries:
// no shell ever sees them. A client that goes away takes the command's process group with it.

/** Claims of a command token (conductor/keys.ts signs them). */
export const SERVICE_CLAIM = 'conductor_service'
export const COMMAND_CLAIM = 'conductor_command'
/** Arguments: enough for any migration tool, small enough that a body is never a memory problem. */
export const MAX_ARGS = 256
export const MAX_ARG_BYTES = 4096
export const MAX_BODY_BYTES = 64 * 1024
/** jti entries remembered at once; past it new tokens are refused until old ones expire. */
export const REPLAY_CACHE_MAX = 100_000
/** A jti is kept this long past exp: longer than any clock skew a policy entry may allow (policies MAX_CLOCK_SKEW_SEC). */
const REPLAY_MARGIN_MS = 300_000
/**
 * A quiet command still sends a frame this often: a proxy in front (Caddy) notices that its
 * client went away only when it next writes, and only then closes our connection.
 */
export const HEARTBEAT_MS = 1000
/** SIGTERM first; SIGKILL the group if it is still there after this. */
const KILL_GRACE_MS = 2000

const bodySchema = z.strictObject({
  args: z.array(z.string().max(MAX_ARG_BYTES, `an argument is at most ${MAX_ARG_BYTES} characters`)).max(MAX_ARGS, `at most ${MAX_ARGS} arguments`).optional()
})

export interface CommandsPluginOptions {
  state: StateHolder
  authorize: Authorizer
  roots: Partial<Pick<Roots, 'root'>>
  /** Base environment (PATH...); default the gateway's. */
  env?: NodeJS.ProcessEnv | undefined
  replay?: ReplayCache | undefined
}

interface Params { service: string, name: string }
interface Allowed { svc: Service, cmd: Command, decision: Decision }

export async function commandsPlugin (app: FastifyInstance, opts: CommandsPluginOptions): Promise<void> {
  const replay = opts.replay ?? new ReplayCache(REPLAY_CACHE_MAX)
  const allowed = new WeakMap<FastifyRequest, Allowed>()

  // The policy is checked before the body is read: a refused caller never gets to send one.
  const check = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const { service, name } = request.params
    const started = Date.now()
    // Returning the reply ends the request here (Fastify async hooks).
    const refuse = async (status: number, error: string, reason: string, d?: Decision, headers: Record<string, string> = {}): Promise<FastifyReply> => {
      request.log.warn({ audit: 'remote-command', service, command: name, subject: d?.subject, peer_id: d?.meta['peer-id'], status, reason, duration_ms: Date.now() - started }, 'remote command refused')
      // The policy's reason stays in the log: a refused caller learns only the error code.
      return await reply.code(status).headers(headers).send({ error, message: status === 404 || status === 409 ? reason : undefined })
    }
    const svc = opts.state.current.services.find(e => e.name === service)?.service
    const cmd = svc?.commands[name]
    // A command without `remote` does not exist for the network.
    if (svc === undefined || cmd?.remote === undefined) return await refuse(404, 'CND_COMMAND_NOT_FOUND', `service "${service}" exposes no remote command "${name}"`)
    let d: Decision
    try {
      d = await opts.authorize({
        policy: cmd.remote.policy,
        authorization: cmd.remote.authorization ?? `command:${service}:${name}`,
        headers: request.headers,
        method: request.method,
        uri: request.url,
        host: String(request.headers['x-forwarded-host'] ?? request.headers.host ?? '')
      })
    } catch {
      d = { allow: false, status: 403, policy: cmd.remote.policy, reason: 'authorizer failed', meta: {}, authorizations: [] }
    }
    if (!d.allow) return await refuse(d.status, d.status === 401 ? 'CND_AUTH_REQUIRED' : 'CND_AUTH_DENIED', d.reason, d, d.challenge !== undefined ? { 'www-authenticate': d.challenge } : {})
    // Remote commands run in the service context only (no deployment is chosen over the network).
    if (cmd.service !== true) return await refuse(409, 'CND_COMMAND_CONTEXT', 'remote commands run in the service context: the command needs "service": true', d)
    // validUntil is set when the allow was built on a verified JWT: its claims can be trusted.
    const claims = d.validUntil === undefined ? undefined : jwtClaims(request.headers.authorization)
    if (claims !== undefined) {
      // A token is for one command of one service: a token for db:migrate cannot run console.
      if (claims[SERVICE_CLAIM] !== service || claims[COMMAND_CLAIM] !== name) return await refuse(403, 'CND_AUTH_DENIED', 'token is bound to another service or command', d)
      const jti = claims.jti
      if (typeof jti !== 'string' || jti === '' || jti.length > 256) return await refuse(403, 'CND_AUTH_DENIED', 'command token has no jti', d)
      const expMs = d.validUntil ?? (typeof claims.exp === 'number' ? claims.exp * 1000 : Date.now())
      const outcome = replay.claim(`${String(claims.iss)}\u0000${jti}`, expMs + REPLAY_MARGIN_MS)
      if (outcome === 'replayed') return await refuse(401, 'CND_TOKEN_REPLAYED', 'jti seen before', d)
      if (outcome === 'full') return await refuse(503, 'CND_BUSY', 'replay cache full', d, { 'retry-after': '60' })
    }
    allowed.set(request, { svc, cmd, decision: d })
    return undefined
  }

  app.post<{ Params: Params }>(`${COMMANDS_PREFIX}/:service/commands/:name`, { onRequest: check, bodyLimit: MAX_BODY_BYTES }, async (request, reply) => {
    const ok = allowed.get(request)
    if (ok === undefined) { await reply.code(403).send({ error: 'CND_AUTH_DENIED' }); return }
    const parsed = bodySchema.safeParse(request.body ?? {})
    if (!parsed.success) {
      await reply.code(400).send({ error: 'CND_BAD_ARGS', message: 'body must be {"args": ["..."]}: ' + parsed.error.issues.map(i => `/${i.path.join('/')}: ${i.message}`).join('; ') })
      return
    }
    run(request, reply, ok, parsed.data.args ?? [], opts)
  })
}

function run (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply, { svc, cmd, decision }: Allowed, args: string[], opts: CommandsPluginOptions): void {
  const { name } = request.params
  const started = Date.now()
  const help = (cmd.help_flags ?? []).some(f => f.length === args.length && f.every((a, i) => a === args[i]))
  const [file, ...argv] = [...cmd.exec, ...(help && cmd.help_args !== undefined ? cmd.help_args : args)]
  const env = commandVariables(serviceVariables(svc, baseVariables(opts.roots.root === undefined ? undefined : { root: opts.roots.root }, opts.env)), name, svc.dir)
  const audit = { audit: 'remote-command', subject: decision.subject, peer_id: decision.meta['peer-id'], service: svc.name, command: name, args_sha256: createHash('sha256').update(JSON.stringify(args)).digest('hex') }
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-accel-buffering': 'no' })
  res.flushHeaders()
  const frame = (f: object): void => { if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify(f) + '\n') }
  // Its own process group (detached), so a disconnect kills the command and everything it started.
  const child = spawn(file!, argv, { cwd: svc.dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let done = false
  const heartbeat = setInterval(() => frame({ heartbeat: true }), HEARTBEAT_MS)
  child.stdout.setEncoding('utf8').on('data', (data: string) => frame({ stream: 'stdout', data }))
  child.stderr.setEncoding('utf8').on('data', (data: string) => frame({ stream: 'stderr', data }))
  const finish = (exit: number, error?: string): void => {
    if (done) return
    done = true
    clearInterval(heartbeat)
    if (error !== undefined) frame({ stream: 'stderr', data: error + '\n' })
    frame({ exit })
    res.end()
    request.log.info({ ...audit, exit, disconnected: res.destroyed && !res.writableFinished, duration_ms: Date.now() - started }, 'remote command')
  }
  child.on('error', err => finish(127, `cannot run ${file!}: ${err.message}`))
  child.on('close', (code, signal) => finish(code ?? 128 + (signal !== null ? (constants.signals[signal] ?? 0) : 0)))
  res.on('close', () => {
    clearInterval(heartbeat)
    if (done || child.exitCode !== null || child.signalCode !== null) return
    request.log.warn({ ...audit }, 'remote command: client went away, killing its process group')
    killGroup(child.pid, 'SIGTERM')
    const timer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS)
    timer.unref()
    child.once('close', () => clearTimeout(timer))
  })
}

/**
 * The payload of a compact JWT credential, or undefined when the credential is not one. Read
 * only after the policy accepted the credential, so its signature has been verified.
 */
function jwtClaims (authorization: string | string[] | undefined): Record<string, unknown> | undefined {
  if (typeof authorization !== 'string') return undefined
  const m = /^bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/i.exec(authorization.trim())
  if (m === null) return undefined
  try {
    const v: unknown = JSON.parse(Buffer.from(m[2]!, 'base64url').toString('utf8'))
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, unknown> : {}
  } catch { return {} }
}
