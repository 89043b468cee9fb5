import { Command, CommanderError } from 'commander'
import { createCtx, type Ctx, type GlobalOptions } from './context.js'
import { ConductorError, EXIT, UsageError } from './errors.js'
import { processIo, type Io } from './output.js'
import { readVersion } from './version.js'
import { registerCaddyCommands } from './commands/caddy.js'
import { registerDeploymentCommands } from './commands/deployment.js'
import { registerDeployCommands } from './commands/deploy.js'
import { registerGatewayCommand } from './commands/gateway.js'
import { registerKeyCommands } from './commands/key.js'
import { registerCompletionCommands } from './commands/completion.js'
import { registerDoctorCommand } from './commands/doctor.js'
import { registerPolicyCommands } from './commands/policy.js'
import { registerFunctionCommands } from './commands/function.js'
import { registerSchemaCommand } from './commands/schema.js'
import { registerServiceCommands } from './commands/service.js'
import { registerSystemCommands } from './commands/system.js'
import { registerReloadCommand } from './commands/reload.js'
import { registerRunCommands } from './commands/run.js'

// The CLI entry: builds the commander program, runs it, and turns errors into exit codes.
// Each area registers its own commands (commands/*.ts) so they stay small and separate.

export function buildProgram (io: Io = processIo, env: NodeJS.ProcessEnv = process.env): Command {
  const program = new Command('conductor')
    .description('Light orchestrator for systemd + Podman + Caddy: services, deployments, functions')
    .version(readVersion(), '-V, --version')
    .option('--root <dir>', 'prefix of every host path (/etc/conductor, /run/conductor...); env CONDUCTOR_ROOT')
    .option('--services-dir <dir>', 'services directory (default ROOT/etc/conductor/services); env CONDUCTOR_SERVICES_DIR')
    .option('--scope <scope>', 'systemd scope: system (/etc/systemd/system, default) or user (~/.config/systemd/user, systemctl --user); env CONDUCTOR_SCOPE, host.json "scope"')
    .option('--policies-dir <dir>', 'policies directory (default ROOT/etc/conductor/policies); env CONDUCTOR_POLICIES_DIR')
    .option('--template-timeout <sec>', 'kill templates after SEC seconds (default: the service\'s template_timeout_sec, else 30)')
    .option('--caddy-admin <url>', 'Caddy admin API (http://HOST:PORT or unix//PATH); env CONDUCTOR_CADDY_ADMIN, host.json caddy_admin, default http://localhost:2019')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: s => io.out(s), writeErr: s => io.err(s) })
    .exitOverride()

  const makeCtx = (cmd: Command): Ctx => createCtx(cmd.optsWithGlobals<GlobalOptions>(), io, env)
  const internal = program.command('_').description('Internals: simulate templates (see `conductor _ service template --help`)')

  registerServiceCommands(program, makeCtx)
  registerDeploymentCommands(program, internal, makeCtx)
  registerDeployCommands(program, makeCtx)
  registerSchemaCommand(program, makeCtx)
  registerGatewayCommand(program, makeCtx)
  registerKeyCommands(program, makeCtx)
  registerCompletionCommands(program, makeCtx)
  registerDoctorCommand(program, makeCtx)
  registerSystemCommands(program, makeCtx)
  registerReloadCommand(program, makeCtx)
  registerRunCommands(program, makeCtx)
  registerPolicyCommands(program, makeCtx)
  registerCaddyCommands(program, makeCtx)
  registerFunctionCommands(program, makeCtx)

  // Every subcommand shares the parent's output and exit behaviour.
  for (const cmd of allCommands(program)) {
    cmd.configureOutput({ writeOut: s => io.out(s), writeErr: s => io.err(s) }).exitOverride().showHelpAfterError('(run with --help for usage)')
  }
  return program
}

/** Runs the CLI; resolves to the exit code instead of exiting, so tests can call it. */
export async function runCli (argv: string[], io: Io = processIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const program = buildProgram(io, env)
  process.exitCode = undefined
  try {
    await program.parseAsync(argv, { from: 'user' })
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok
  } catch (err) {
    return reportError(err, io)
  } finally {
    process.exitCode = undefined
  }
}

export function reportError (err: unknown, io: Io): number {
  if (err instanceof CommanderError) {
    // Help and version "errors" are normal exits.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage
  }
  if (err instanceof ConductorError) {
    io.err(`conductor: error: ${err.message}\n`)
    return err instanceof UsageError ? EXIT.usage : err.exitCode
  }
  if (err instanceof Error && String((err as { code?: unknown }).code ?? '').startsWith('CND_')) {
    // A typed error of a leaf folder (caddy/, policies/, cgi/): its message is for operators.
    io.err(`conductor: error: ${err.message}\n`)
    return EXIT.failure
  }
  io.err(`conductor: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  return EXIT.failure
}

function allCommands (cmd: Command): Command[] {
  return cmd.commands.flatMap(c => [c, ...allCommands(c)])
}
