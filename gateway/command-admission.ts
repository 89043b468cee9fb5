import { createHash } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { FastifyRequest } from 'fastify'
import {
  baseVariables,
  commandVariables,
  DEFAULT_REMOTE_MAX_OUTPUT_BYTES,
  DEFAULT_REMOTE_TIMEOUT_SEC,
  serviceVariables,
  type Command,
  type Roots,
  type Service,
  type Variables
} from '../conductor/model/index.js'
import { errorAnswer, httpStatusOf, type ErrorAnswer, type ErrorCode } from '../errors/index.js'
import type { Decision } from '../policies/index.js'
import type { Authorizer } from './authorize.js'
import { commandTokenBinding } from './command-token.js'
import type { ReplayCache } from './replay-cache.js'
import { repeatedDecisionHeader } from './repeated-headers.js'
import type { RunningCommands } from './running-commands.js'
import type { StateHolder } from './state.js'

// Who may run which remote command, and how an admitted one is started: the policy, the
// command's context and kind, the token's binding and single use (command-token.ts), then argv,
// environment, time limit and audit fields. Shared by the POST route (commands.ts) and the
// interactive WebSocket (interactive.ts), so both admit exactly the same requests.

/** A jti is kept this long past exp: longer than any clock skew a policy entry may allow (policies MAX_CLOCK_SKEW_SEC). */
const REPLAY_MARGIN_MS = 300_000

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

export interface Allowed {
  svc: Service
  cmd: Command
  decision: Decision
}

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
export type Admission =
  | { ok: true; allowed: Allowed }
  | { ok: false; answer: ErrorAnswer; headers: Record<string, string> }
export type Admit = (input: AdmitInput) => Promise<Admission>

/** Policy, context, kind (interactive or not), token binding and jti: the same for POST and WebSocket. */
export function createAdmit(opts: CommandsPluginOptions, replay: ReplayCache): Admit {
  return async ({ service, name, headers, rawHeaders, method, url, interactive, log }) => {
    const started = Date.now()
    const refuse = (error: ErrorCode, reason: string, d?: Decision, extra: Record<string, string> = {}): Admission => {
      const status = httpStatusOf(error)
      log.warn(
        {
          audit: 'remote-command',
          service,
          command: name,
          interactive,
          subject: d?.subject,
          peer_id: d?.meta['peer-id'],
          status,
          reason,
          duration_ms: Date.now() - started
        },
        'remote command refused'
      )
      // The policy's reason stays in the log: a refused caller learns only the error code.
      const message = status === 400 || status === 404 || status === 409 ? reason : undefined
      return { ok: false, answer: errorAnswer(error, message), headers: extra }
    }
    // A header the decision reads, sent twice: Node decides on one copy (repeated-headers.ts).
    const repeated = repeatedDecisionHeader(rawHeaders)
    if (repeated !== undefined) return refuse('CND_HEADER_REPEATED', `repeated ${repeated} header`)
    const svc = opts.state.current.services.find(e => e.name === service)?.service
    const cmd = svc?.commands[name]
    // A command without `remote` does not exist for the network.
    if (svc === undefined || cmd?.remote === undefined) {
      return refuse('CND_COMMAND_NOT_FOUND', `service "${service}" exposes no remote command "${name}"`)
    }
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
      d = {
        allow: false,
        status: 403,
        policy: cmd.remote.policy,
        reason: 'authorizer failed',
        meta: {},
        authorizations: []
      }
    }
    if (!d.allow) {
      const challenge: Record<string, string> = d.challenge !== undefined ? { 'www-authenticate': d.challenge } : {}
      return refuse(d.status === 401 ? 'CND_AUTH_REQUIRED' : 'CND_AUTH_DENIED', d.reason, d, challenge)
    }
    // Remote commands run in the service context only (no deployment is chosen over the network).
    if (cmd.service !== true) {
      const why = 'remote commands run in the service context: the command needs "service": true'
      return refuse('CND_COMMAND_CONTEXT', why, d)
    }
    // A terminal program fed by a pipe, or a batch command given a terminal, would both misbehave.
    if (interactive && cmd.interactive !== true) {
      const how = 'run it without -it (or declare "interactive": true)'
      return refuse('CND_COMMAND_NOT_INTERACTIVE', `command "${name}" is not interactive: ${how}`, d)
    }
    if (!interactive && cmd.interactive === true) {
      const how = 'run it with conductor action run -it'
      return refuse('CND_COMMAND_INTERACTIVE', `command "${name}" is interactive: ${how}`, d)
    }
    // The token is for one command of one service (a token for db:migrate cannot run console),
    // and its jti runs once: all from the claims the policy verified.
    const binding = commandTokenBinding(d, service, name)
    if (!binding.ok) return refuse('CND_AUTH_DENIED', binding.reason, d)
    const outcome = replay.claim(binding.replayKey, binding.expMs + REPLAY_MARGIN_MS)
    if (outcome === 'replayed') return refuse('CND_TOKEN_REPLAYED', 'jti seen before', d)
    if (outcome === 'full') return refuse('CND_BUSY', 'replay cache full', d, { 'retry-after': '60' })
    return { ok: true, allowed: { svc, cmd, decision: d } }
  }
}

/** argv of an admitted invocation: help_flags give help_args, else the arguments as argv entries. */
export function commandArgv(cmd: Command, args: string[]): string[] {
  const help = (cmd.help_flags ?? []).some(f => f.length === args.length && f.every((a, i) => a === args[i]))
  return [...cmd.exec, ...(help && cmd.help_args !== undefined ? cmd.help_args : args)]
}

export function commandEnv(svc: Service, name: string, opts: Pick<CommandsPluginOptions, 'roots' | 'env'>): Variables {
  return commandVariables(
    serviceVariables(
      svc,
      baseVariables(opts.roots.root === undefined ? undefined : { root: opts.roots.root }, opts.env)
    ),
    name,
    svc.dir
  )
}

export function commandTimeoutMs(cmd: Command): number {
  return (cmd.remote?.timeout_sec ?? DEFAULT_REMOTE_TIMEOUT_SEC) * 1000
}

export function commandMaxOutputBytes(cmd: Command): number {
  return cmd.remote?.max_output_bytes ?? DEFAULT_REMOTE_MAX_OUTPUT_BYTES
}

export function auditFields(svc: Service, name: string, decision: Decision, args: string[]): Record<string, unknown> {
  return {
    audit: 'remote-command',
    subject: decision.subject,
    peer_id: decision.meta['peer-id'],
    service: svc.name,
    command: name,
    args_sha256: createHash('sha256').update(JSON.stringify(args)).digest('hex')
  }
}
