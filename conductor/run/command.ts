import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import { CommandNotFound, CommandContextRefused, NoRunningDeployment } from '../../errors/index.js'
import { readDeployments, deploymentDir } from '../state/index.js'
import { deploymentVars } from '../reconcile/index.js'
import type { Command, Service } from '../model/index.js'
import type { SystemCtx } from '../reconcile/index.js'
import { deploymentUnit } from '../model/index.js'
import { baseVariables, commandVariables, serviceVariables, type Variables } from '../model/index.js'
import type { DeploymentState } from '../state/index.js'
import type { Ctx } from '../context.js'
import { processIo, type Io } from '../output.js'

// `conductor run` (seed "Commands"): a declared command runs with the variables of its context
// (service, any running deployment, or a given deployment) plus CONDUCTOR_COMMAND and
// CONDUCTOR_COMMAND_DIR, in the service or deployment directory, stdio inherited, and its exit
// status becomes conductor's.

export interface CommandInvocation {
  name: string
  argv: string[]
  cwd: string
  env: Variables
  /** service, or the deployment id it runs in. */
  context: string
}

export function findCommand(svc: Service, name: string): Command {
  const cmd = svc.commands[name]
  if (cmd === undefined) {
    const known = Object.keys(svc.commands)
    throw new CommandNotFound(
      `service "${svc.name}" declares no command "${name}" (${known.length > 0 ? 'commands: ' + known.join(', ') : 'it declares none'})`,
      svc.file,
      '/commands'
    )
  }
  return cmd
}

export function isHelpCall(cmd: Command, args: string[]): boolean {
  return (cmd.help_flags ?? []).some(f => f.length === args.length && f.every((a, i) => a === args[i]))
}

function argvOf(cmd: Command, args: string[], help: boolean): string[] {
  return [...cmd.exec, ...(help && cmd.help_args !== undefined ? cmd.help_args : args)]
}

/** `run -s SERVICE NAME`: service context, or any running deployment for service_any_deployment. */
export async function serviceInvocation(
  ctx: Ctx,
  svc: Service,
  name: string,
  args: string[],
  sctx: () => Promise<SystemCtx>
): Promise<CommandInvocation> {
  const cmd = findCommand(svc, name)
  const help = isHelpCall(cmd, args)
  const invocationDir = process.cwd()
  if (cmd.service === true || (help && cmd.service_any_deployment !== true)) {
    const env = commandVariables(serviceVariables(svc, baseVariables(ctx.roots, ctx.env)), name, invocationDir)
    return { name, argv: argvOf(cmd, args, help), cwd: svc.dir, env, context: 'service' }
  }
  if (cmd.service_any_deployment === true) {
    const s = await sctx()
    const rec = await anyRunningDeployment(s, svc)
    return deploymentInvocationOf(s, svc, rec, name, cmd, args, help)
  }
  throw new CommandContextRefused(
    `command "${name}" of service "${svc.name}" runs only in a deployment context: use \`conductor run -d DEPLOYMENT ${name}\``,
    svc.file,
    `/commands/${name}`
  )
}

/** `run -d DEPLOYMENT NAME`. */
export function deploymentInvocation(
  sctx: SystemCtx,
  svc: Service,
  rec: DeploymentState,
  name: string,
  args: string[]
): CommandInvocation {
  const cmd = findCommand(svc, name)
  const help = isHelpCall(cmd, args)
  if (cmd.deployment !== true && !help) {
    throw new CommandContextRefused(
      `command "${name}" of service "${svc.name}" does not run in a deployment context: use \`conductor run -s ${svc.name} ${name}\``,
      svc.file,
      `/commands/${name}`
    )
  }
  return deploymentInvocationOf(sctx, svc, rec, name, cmd, args, help)
}

function deploymentInvocationOf(
  sctx: SystemCtx,
  svc: Service,
  rec: DeploymentState,
  name: string,
  cmd: Command,
  args: string[],
  help: boolean
): CommandInvocation {
  const env = commandVariables(deploymentVars(sctx, svc, rec), name, process.cwd())
  return {
    name,
    argv: argvOf(cmd, args, help),
    cwd: deploymentDir(sctx.roots.deployments, rec.id),
    env,
    context: rec.id
  }
}

async function anyRunningDeployment(sctx: SystemCtx, svc: Service): Promise<DeploymentState> {
  const recs = readDeployments(sctx.roots.deployments).records.filter(
    r => r.service === svc.name && r.desired === 'running'
  )
  if (recs.length > 0) {
    const units = await sctx.drivers.systemd.list(recs.map(r => deploymentUnit(r.id)))
    const active = new Set(units.filter(u => u.active === 'active').map(u => u.unit))
    // Newest first: ids sort by creation time.
    const running = recs.filter(r => active.has(deploymentUnit(r.id))).sort((a, b) => (a.id < b.id ? 1 : -1))
    if (running[0] !== undefined) return running[0]
  }
  throw new NoRunningDeployment(
    `service "${svc.name}" has no running deployment to run the command in; start it with \`conductor reload\` or \`conductor service start ${svc.name}\``
  )
}

/**
 * Runs with inherited stdio; resolves to the exit status (128+N when killed by signal N). When
 * the CLI runs in-process with captured output (tests, embedding), stdout and stderr are piped
 * into that Io instead; stdin stays inherited either way.
 */
export async function runInvocation(inv: CommandInvocation, io: Io = processIo): Promise<number> {
  const [file, ...args] = inv.argv
  const inherit = io === processIo
  return await new Promise((resolve, reject) => {
    const child = spawn(file!, args, {
      cwd: inv.cwd,
      env: inv.env,
      stdio: inherit ? 'inherit' : ['inherit', 'pipe', 'pipe']
    })
    child.stdout?.setEncoding('utf8').on('data', (s: string) => io.out(s))
    child.stderr?.setEncoding('utf8').on('data', (s: string) => io.err(s))
    // The terminal's Ctrl-C reaches the child too (same process group); do not die before it.
    const ignore = (): void => {}
    process.on('SIGINT', ignore)
    child.on('error', err => {
      process.off('SIGINT', ignore)
      reject(new CommandNotFound(`cannot run ${file!}: ${err.message}; check that it exists and is executable`))
    })
    child.on('close', (code, signal) => {
      process.off('SIGINT', ignore)
      resolve(code ?? 128 + (signal !== null ? (constants.signals[signal] ?? 0) : 0))
    })
  })
}
