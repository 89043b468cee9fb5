import type { Command } from 'commander'
// gateway/index.ts is light (constants, and the gateway itself loaded on first use): the
// process lifecycle lives in gateway/serve.ts, and Fastify loads only when this command runs.
import {
  DEFAULT_MAX_EVENT_LOOP_DELAY_MS,
  DEFAULT_PRESSURE_SAMPLE_MS,
  parseServeAddresses,
  serveGateway
} from '../../../gateway/index.js'
import { UsageError } from '../../../errors/index.js'
import { DEFAULT_GATEWAY_LISTEN, DEFAULT_GATEWAY_METRICS_LISTEN } from '../../model/index.js'
import { resolveScope } from '../../model/index.js'
import type { CtxFactory } from './types.js'

interface GatewayCliOptions {
  listen?: string
  metricsListen?: string
  logLevel: string
  maxEventLoopDelay?: string
  maxEventLoopUtilization?: string
  pressureSample?: string
  fastAuth: boolean
  functionsListen?: string
  functionsGroup?: string
}

export function registerGatewayCommand(program: Command, makeCtx: CtxFactory): void {
  program
    .command('gateway')
    .description('Run the gateway (forward_auth target and functions); SIGHUP reloads services and policies')
    .option(
      '--listen <addr>',
      `HOST:PORT on loopback, or unix:/path (default: host.json gateway_listen, else ${DEFAULT_GATEWAY_LISTEN})`
    )
    .option(
      '--metrics-listen <addr>',
      `HOST:PORT (loopback) or unix:/path for Prometheus /metrics, or "none" (default: host.json gateway_metrics_listen, else ${DEFAULT_GATEWAY_METRICS_LISTEN})`
    )
    .option(
      '--functions-listen <addr>',
      "also serve functions on this address, normally unix:/run/conductor/functions.sock (mode 0660) that only Caddy's group may open (default: host.json functions_listen)"
    )
    .option(
      '--functions-group <group>',
      'group (name or gid) given the --functions-listen socket, e.g. caddy (default: host.json functions_group)'
    )
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace', 'info')
    .option(
      '--max-event-loop-delay <ms>',
      `answer 503 + Retry-After when the event loop lags more than MS (0: off; default ${DEFAULT_MAX_EVENT_LOOP_DELAY_MS})`
    )
    .option(
      '--max-event-loop-utilization <ratio>',
      'answer 503 + Retry-After above this event-loop utilization, 0..1 (default 0: off)'
    )
    .option(
      '--no-fast-auth',
      'answer /auth through the Fastify route only, without the raw node:http fast path (for comparisons)'
    )
    .option('--pressure-sample <ms>', `how often load is sampled (default ${DEFAULT_PRESSURE_SAMPLE_MS})`)
    .action(async function (this: Command, opts: GatewayCliOptions) {
      // A SIGHUP before the gateway's own handler exists (it loads Fastify and the state first,
      // seconds on a loaded host) would end the process (Node's default): a policy change
      // written by the fleet daemon while the unit starts must not kill it. Remembered, and
      // replayed once the gateway serves (its handler reloads then).
      let reloadAsked = false
      const early = (): void => {
        reloadAsked = true
      }
      process.on('SIGHUP', early)
      const ctx = makeCtx(this)
      const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace']
      if (!levels.includes(opts.logLevel))
        throw new UsageError(`--log-level ${opts.logLevel}: expected ${levels.join(', ')}`)
      // The unit runs `conductor gateway` without flags: host.json holds this host's addresses.
      const host = await ctx.host()
      const metricsListen = opts.metricsListen ?? host.gateway_metrics_listen ?? DEFAULT_GATEWAY_METRICS_LISTEN
      const serve = {
        roots: ctx.roots,
        listen: opts.listen ?? host.gateway_listen ?? DEFAULT_GATEWAY_LISTEN,
        metricsListen: metricsListen === 'none' ? undefined : metricsListen,
        functionsListen: opts.functionsListen ?? host.functions_listen,
        functionsGroup: opts.functionsGroup ?? host.functions_group,
        logLevel: opts.logLevel,
        fastAuth: opts.fastAuth,
        // Service and policy files validated before (by any conductor command) skip zod at start.
        validationCache: ctx.validationCache,
        // Functions with service_directives get their scopes from this host's manager.
        systemdScope: resolveScope(ctx.scopeFlag, ctx.env, host, ctx.roots).scope,
        pressure: {
          maxEventLoopDelayMs: number(opts.maxEventLoopDelay, '--max-event-loop-delay', 0, 60_000),
          maxEventLoopUtilization: number(opts.maxEventLoopUtilization, '--max-event-loop-utilization', 0, 1),
          sampleIntervalMs: number(opts.pressureSample, '--pressure-sample', 1, 60_000)
        }
      }
      // A bad address (CND_GATEWAY_LISTEN_NOT_ALLOWED, a usage error: exit 2) is found before anything starts.
      parseServeAddresses(serve)
      await serveGateway(serve)
      process.off('SIGHUP', early)
      if (reloadAsked) process.kill(process.pid, 'SIGHUP')
    })
}

function number(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`${flag} ${value}: expected a number from ${min} to ${max}`)
  return n
}
