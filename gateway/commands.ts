import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { constants } from 'node:os'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import type { IncomingHttpHeaders } from 'node:http'
import { baseVariables, commandVariables, COMMANDS_PREFIX, DEFAULT_REMOTE_TIMEOUT_SEC, MAX_ARG_CHARS, MAX_ARGS as PROTOCOL_MAX_ARGS, serviceVariables, TIMEOUT_EXIT, type Command, type Roots, type Service, type Variables } from '../conductor/index.js'
import type { Decision } from '../policies/index.js'
import type { Authorizer } from './authorize.js'
import { commandTokenBinding } from './command-token.js'
import { repeatedDecisionHeader } from './repeated-headers.js'
import { attachInteractive } from './interactive.js'
import { ReplayCache } from './replay-cache.js'
import { RunningCommands } from './running-commands.js'
import type { StateHolder } from './state.js'

// Remote commands (issue 7): POST /.conductor/services/SERVICE/commands/NAME runs a command the
// service exposes with `remote`, in the service context, and streams its output back as NDJSON
// frames while it runs. The gateway checks the command's policy itself (whatever Caddy did),
// accepts only a verified JWT, bound to this one command by its conductor_service and
// conductor_command claims, and accepts each jti once (command-token.ts). Arguments arrive as
// a JSON array of strings and become argv entries: no shell ever sees them. A client that goes
// away takes the command's process group with it.

export { SERVICE_CLAIM, COMMAND_CLAIM } from './command-token.js'
/** Arguments: enough for any migration tool, small enough that a body is never a memory problem. */
export const MAX_ARGS = PROTOCOL_MAX_ARGS
export const MAX_ARG_BYTES = MAX_ARG_CHARS
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
  /** Commands in flight; the gateway's close stops them. */
  running?: RunningCommands | undefined
  /** True (and the refusal logged and counted) when an interactive upgrade must be shed. */
  shedUpgrade?: (() => boolean) | undefined
}

interface Params { service: string, name: string }
export interface Allowed { svc: Service, cmd: Command, decision: Decision }

export interface AdmitInput {
  service: string
  name: string
  headers: IncomingHttpHeaders
  /** The request's raw header list: a header the decision reads must not come twice. */
  rawHeaders: readonly string[]
  method: string
  url: string
  /** POST (streamed output) or a WebSocket upgrade (-it): each is refused for the other kind of command. */
  interactive: boolean
  log: FastifyRequest['log']
}
export type Admission = { ok: true, allowed: Allowed } | { ok: false, status: number, body: { error: string, message?: string | undefined }, headers: Record<string, string> }
export type Admit = (input: AdmitInput) => Promise<Admission>

export async function commandsPlugin (app: FastifyInstance, opts: CommandsPluginOptions): Promise<void> {
  const replay = opts.replay ?? new ReplayCache(REPLAY_CACHE_MAX)
  const running = opts.running ?? new RunningCommands()
  const allowed = new WeakMap<FastifyRequest, Allowed>()
  const admit = createAdmit(opts, replay)
  // Interactive commands arrive as WebSocket upgrades, which never reach Fastify's routes.
  const sessions = attachInteractive(app.server, { admit, running, roots: opts.roots, env: opts.env, log: app.log, shedUpgrade: opts.shedUpgrade })
  // A command must not outlive the gateway (its process group is detached from ours).
  app.addHook('preClose', async () => {
    if (running.size > 0) app.log.warn({ running: running.size }, 'gateway stopping: killing the remote commands still running')
    await running.stopAll('gateway-stopping')
    sessions.closeAll()
  })

  // The policy is checked before the body is read: a refused caller never gets to send one.
  const check = async (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const a = await admit({
      ...request.params,
      headers: request.headers,
      rawHeaders: request.raw.rawHeaders,
      method: request.method,
      url: request.url,
      interactive: false,
      log: request.log
    })
    // Returning the reply ends the request here (Fastify async hooks).
    if (!a.ok) return await reply.code(a.status).headers(a.headers).send(a.body)
    allowed.set(request, a.allowed)
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
    run(request, reply, ok, parsed.data.args ?? [], opts, running)
  })
}

/** Policy, context, kind (interactive or not), token binding and jti: the same for POST and WebSocket. */
export function createAdmit (opts: CommandsPluginOptions, replay: ReplayCache): Admit {
  return async ({ service, name, headers, rawHeaders, method, url, interactive, log }) => {
    const started = Date.now()
    const refuse = (status: number, error: string, reason: string, d?: Decision, extra: Record<string, string> = {}): Admission => {
      log.warn({ audit: 'remote-command', service, command: name, interactive, subject: d?.subject, peer_id: d?.meta['peer-id'], status, reason, duration_ms: Date.now() - started }, 'remote command refused')
      // The policy's reason stays in the log: a refused caller learns only the error code.
      const message = status === 400 || status === 404 || status === 409 ? reason : undefined
      return { ok: false, status, body: { error, message }, headers: extra }
    }
    // A header the decision reads, sent twice: Node decides on one copy (repeated-headers.ts).
    const repeated = repeatedDecisionHeader(rawHeaders)
    if (repeated !== undefined) return refuse(400, 'CND_HEADER_REPEATED', `repeated ${repeated} header`)
    const svc = opts.state.current.services.find(e => e.name === service)?.service
    const cmd = svc?.commands[name]
    // A command without `remote` does not exist for the network.
    if (svc === undefined || cmd?.remote === undefined) return refuse(404, 'CND_COMMAND_NOT_FOUND', `service "${service}" exposes no remote command "${name}"`)
    let d: Decision
    try {
      d = await opts.authorize({
        policy: cmd.remote.policy,
        authorization: cmd.remote.authorization ?? `command:${service}:${name}`,
        headers,
        method,
        uri: url,
        host: String(headers['x-forwarded-host'] ?? headers.host ?? '')
      })
    } catch {
      d = { allow: false, status: 403, policy: cmd.remote.policy, reason: 'authorizer failed', meta: {}, authorizations: [] }
    }
    if (!d.allow) return refuse(d.status, d.status === 401 ? 'CND_AUTH_REQUIRED' : 'CND_AUTH_DENIED', d.reason, d, d.challenge !== undefined ? { 'www-authenticate': d.challenge } : {})
    // Remote commands run in the service context only (no deployment is chosen over the network).
    if (cmd.service !== true) return refuse(409, 'CND_COMMAND_CONTEXT', 'remote commands run in the service context: the command needs "service": true', d)
    // A terminal program fed by a pipe, or a batch command given a terminal, would both misbehave.
    if (interactive && cmd.interactive !== true) return refuse(409, 'CND_COMMAND_NOT_INTERACTIVE', `command "${name}" is not interactive: run it without -it (or declare "interactive": true)`, d)
    if (!interactive && cmd.interactive === true) return refuse(409, 'CND_COMMAND_INTERACTIVE', `command "${name}" is interactive: run it with conductor action run -it`, d)
    // The token is for one command of one service (a token for db:migrate cannot run console),
    // and its jti runs once: all from the claims the policy verified.
    const binding = commandTokenBinding(d, service, name)
    if (!binding.ok) return refuse(403, 'CND_AUTH_DENIED', binding.reason, d)
    const outcome = replay.claim(binding.replayKey, binding.expMs + REPLAY_MARGIN_MS)
    if (outcome === 'replayed') return refuse(401, 'CND_TOKEN_REPLAYED', 'jti seen before', d)
    if (outcome === 'full') return refuse(503, 'CND_BUSY', 'replay cache full', d, { 'retry-after': '60' })
    return { ok: true, allowed: { svc, cmd, decision: d } }
  }
}

/** argv of an admitted invocation: help_flags give help_args, else the arguments as argv entries. */
export function commandArgv (cmd: Command, args: string[]): string[] {
  const help = (cmd.help_flags ?? []).some(f => f.length === args.length && f.every((a, i) => a === args[i]))
  return [...cmd.exec, ...(help && cmd.help_args !== undefined ? cmd.help_args : args)]
}

export function commandEnv (svc: Service, name: string, opts: Pick<CommandsPluginOptions, 'roots' | 'env'>): Variables {
  return commandVariables(serviceVariables(svc, baseVariables(opts.roots.root === undefined ? undefined : { root: opts.roots.root }, opts.env)), name, svc.dir)
}

export function commandTimeoutMs (cmd: Command): number {
  return (cmd.remote?.timeout_sec ?? DEFAULT_REMOTE_TIMEOUT_SEC) * 1000
}

export function auditFields (svc: Service, name: string, decision: Decision, args: string[]): Record<string, unknown> {
  return { audit: 'remote-command', subject: decision.subject, peer_id: decision.meta['peer-id'], service: svc.name, command: name, args_sha256: createHash('sha256').update(JSON.stringify(args)).digest('hex') }
}

function run (request: FastifyRequest<{ Params: Params }>, reply: FastifyReply, { svc, cmd, decision }: Allowed, args: string[], opts: CommandsPluginOptions, running: RunningCommands): void {
  const { name } = request.params
  const started = Date.now()
  const [file, ...argv] = commandArgv(cmd, args)
  const env = commandEnv(svc, name, opts)
  const audit = auditFields(svc, name, decision, args)
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-accel-buffering': 'no' })
  res.flushHeaders()
  const frame = (f: object): void => { if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify(f) + '\n') }
  // Its own process group (detached), so a disconnect kills the command and everything it started.
  const child = spawn(file!, argv, { cwd: svc.dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  const entry = child.pid === undefined ? undefined : running.add(child.pid, commandTimeoutMs(cmd))
  let done = false
  const heartbeat = setInterval(() => frame({ heartbeat: true }), HEARTBEAT_MS)
  child.stdout.setEncoding('utf8').on('data', (data: string) => frame({ stream: 'stdout', data }))
  child.stderr.setEncoding('utf8').on('data', (data: string) => frame({ stream: 'stderr', data }))
  const finish = (status: number, error?: string): void => {
    if (done) return
    done = true
    clearInterval(heartbeat)
    entry?.exited()
    const reason = entry?.reason === 'timeout' || entry?.reason === 'gateway-stopping' ? entry.reason : undefined
    // A timeout reports 124 (as timeout(1) does), whatever signal ended the group.
    const exit = reason === 'timeout' ? TIMEOUT_EXIT : status
    if (error !== undefined) frame({ stream: 'stderr', data: error + '\n' })
    frame(reason !== undefined ? { exit, reason } : { exit })
    res.end()
    request.log.info({ ...audit, exit, ...(reason !== undefined ? { reason } : {}), disconnected: res.destroyed && !res.writableFinished, duration_ms: Date.now() - started }, 'remote command')
  }
  child.on('error', err => finish(127, `cannot run ${file!}: ${err.message}`))
  child.on('close', (code, signal) => finish(code ?? 128 + (signal !== null ? (constants.signals[signal] ?? 0) : 0)))
  res.on('close', () => {
    clearInterval(heartbeat)
    if (done || child.exitCode !== null || child.signalCode !== null) return
    request.log.warn({ ...audit }, 'remote command: client went away, killing its process group')
    entry?.stop('disconnected')
  })
}
