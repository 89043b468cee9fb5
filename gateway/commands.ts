import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import type { Readable } from 'node:stream'
import { StringDecoder } from 'node:string_decoder'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { errorAnswer } from '../errors/index.js'
import {
  COMMANDS_PREFIX,
  MAX_ARG_CHARS,
  MAX_ARGS as PROTOCOL_MAX_ARGS,
  exitStatusFor
} from '../conductor/model/index.js'
import {
  auditFields,
  commandArgv,
  commandEnv,
  commandMaxOutputBytes,
  commandTimeoutMs,
  createAdmit,
  type Allowed,
  type CommandsPluginOptions
} from './command-admission.js'
import { sendError } from './error-reply.js'
import { attachInteractive } from './interactive.js'
import { OutputBudget } from './output-budget.js'
import { ReplayCache } from './replay-cache.js'
import { RunningCommands } from './running-commands.js'

// Remote commands (issue 7): POST /.conductor/services/SERVICE/commands/NAME runs a command the
// service exposes with `remote`, in the service context, and streams its output back as NDJSON
// frames while it runs. The gateway checks the command's policy itself (whatever Caddy did),
// accepts only a verified JWT, bound to this one command by its conductor_service and
// conductor_command claims, and accepts each jti once (command-token.ts). Arguments arrive as
// a JSON array of strings and become argv entries: no shell ever sees them. A client that goes
// away takes the command's process group with it.

export { SERVICE_CLAIM, COMMAND_CLAIM } from './command-token.js'
export type { CommandsPluginOptions } from './command-admission.js'
/** Arguments: enough for any migration tool, small enough that a body is never a memory problem. */
export const MAX_ARGS = PROTOCOL_MAX_ARGS
export const MAX_ARG_BYTES = MAX_ARG_CHARS
export const MAX_BODY_BYTES = 64 * 1024
/** jti entries remembered at once; past it new tokens are refused until old ones expire. */
export const REPLAY_CACHE_MAX = 100_000
/**
 * A quiet command still sends a frame this often: a proxy in front (Caddy) notices that its
 * client went away only when it next writes, and only then closes our connection.
 */
export const HEARTBEAT_MS = 1000

const bodySchema = z.strictObject({
  args: z
    .array(z.string().max(MAX_ARG_BYTES, `an argument is at most ${MAX_ARG_BYTES} characters`))
    .max(MAX_ARGS, `at most ${MAX_ARGS} arguments`)
    .optional()
})

interface Params {
  service: string
  name: string
}

export async function commandsPlugin(app: FastifyInstance, opts: CommandsPluginOptions): Promise<void> {
  const replay = opts.replay ?? new ReplayCache(REPLAY_CACHE_MAX)
  const running = opts.running ?? new RunningCommands()
  const allowed = new WeakMap<FastifyRequest, Allowed>()
  const admit = createAdmit(opts, replay)
  // Interactive commands arrive as WebSocket upgrades, which never reach Fastify's routes.
  const sessions = attachInteractive(app.server, {
    admit,
    running,
    roots: opts.roots,
    env: opts.env,
    log: app.log,
    shedUpgrade: opts.shedUpgrade
  })
  // A command must not outlive the gateway (its process group is detached from ours).
  app.addHook('preClose', async () => {
    if (running.size > 0)
      app.log.warn({ running: running.size }, 'gateway stopping: killing the remote commands still running')
    await running.stopAll('gateway-stopping')
    sessions.closeAll()
  })

  // The policy is checked before the body is read: a refused caller never gets to send one.
  const check = async (
    request: FastifyRequest<{ Params: Params }>,
    reply: FastifyReply
  ): Promise<FastifyReply | undefined> => {
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
    if (!a.ok) return await sendError(reply, a.answer, a.headers)
    allowed.set(request, a.allowed)
    return undefined
  }

  app.post<{ Params: Params }>(
    `${COMMANDS_PREFIX}/:service/commands/:name`,
    { onRequest: check, bodyLimit: MAX_BODY_BYTES },
    async (request, reply) => {
      const ok = allowed.get(request)
      if (ok === undefined) {
        await sendError(reply, errorAnswer('CND_AUTH_DENIED'))
        return
      }
      const parsed = bodySchema.safeParse(request.body ?? {})
      if (!parsed.success) {
        const issues = parsed.error.issues.map(i => `/${i.path.join('/')}: ${i.message}`).join('; ')
        await sendError(reply, errorAnswer('CND_BAD_ARGS', 'body must be {"args": ["..."]}: ' + issues))
        return
      }
      run(request, reply, ok, parsed.data.args ?? [], opts, running)
    }
  )
}

function run(
  request: FastifyRequest<{ Params: Params }>,
  reply: FastifyReply,
  { svc, cmd, decision }: Allowed,
  args: string[],
  opts: CommandsPluginOptions,
  running: RunningCommands
): void {
  const { name } = request.params
  const started = Date.now()
  const [file, ...argv] = commandArgv(cmd, args)
  const env = commandEnv(svc, name, opts)
  const audit = auditFields(svc, name, decision, args)
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store', 'x-accel-buffering': 'no' })
  res.flushHeaders()
  // Its own process group (detached), so a disconnect kills the command and everything it started.
  const child = spawn(file!, argv, { cwd: svc.dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  const entry = child.pid === undefined ? undefined : running.add(child.pid, commandTimeoutMs(cmd))
  let done = false
  // A client slower than the command pauses its pipes (the command then blocks on its output)
  // instead of piling its output up in the gateway's memory.
  let paused = false
  const frame = (f: object): void => {
    if (res.writableEnded || res.destroyed) return
    if (res.write(JSON.stringify(f) + '\n') || paused) return
    paused = true
    child.stdout.pause()
    child.stderr.pause()
    res.once('drain', () => {
      paused = false
      child.stdout.resume()
      child.stderr.resume()
    })
  }
  const heartbeat = setInterval(() => frame({ heartbeat: true }), HEARTBEAT_MS)
  const budget = new OutputBudget(commandMaxOutputBytes(cmd))
  const relay = (name: 'stdout' | 'stderr', from: Readable): void => {
    // Bytes are counted as the command wrote them; the decoder keeps a character cut between
    // two reads whole (the cut at the limit drops the partial one).
    const decoder = new StringDecoder('utf8')
    from.on('data', (chunk: Buffer) => {
      if (budget.exceeded) return
      const data = decoder.write(budget.take(chunk))
      if (data !== '') frame({ stream: name, data })
      if (budget.exceeded) entry?.stop('output-limit')
    })
    from.on('end', () => {
      const rest = budget.exceeded ? '' : decoder.end()
      if (rest !== '') frame({ stream: name, data: rest })
    })
  }
  relay('stdout', child.stdout)
  relay('stderr', child.stderr)
  const finish = (status: number, error?: string): void => {
    if (done) return
    done = true
    clearInterval(heartbeat)
    entry?.exited()
    const reason = entry?.reason === 'disconnected' ? undefined : entry?.reason
    // A timeout reports 124 (as timeout(1) does) and the output limit 141, whatever signal ended the group.
    const exit = exitStatusFor(reason, status)
    if (error !== undefined) frame({ stream: 'stderr', data: error + '\n' })
    frame(reason !== undefined ? { exit, reason } : { exit })
    res.end()
    request.log.info(
      {
        ...audit,
        exit,
        ...(reason !== undefined ? { reason } : {}),
        disconnected: res.destroyed && !res.writableFinished,
        duration_ms: Date.now() - started
      },
      'remote command'
    )
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
