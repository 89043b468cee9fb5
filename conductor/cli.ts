import { Command, CommanderError } from 'commander'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createCtx, type Ctx, type GlobalOptions } from './context.js'
import { ConductorError, EXIT, UsageError } from './errors.js'
import { processIo, type Io } from './output.js'
import { registerDeploymentCommands } from './commands/deployment.js'
import { registerGatewayCommand } from './commands/gateway.js'
import { registerFunctionCommands } from './commands/function.js'
import { registerSchemaCommand } from './commands/schema.js'
import { registerServiceCommands } from './commands/service.js'

// The CLI entry: builds the commander program, runs it, and turns errors into exit codes.
// Each area registers its own commands (commands/*.ts) so they stay small and separate.

export function buildProgram (io: Io = processIo, env: NodeJS.ProcessEnv = process.env): Command {
  const program = new Command('conductor')
    .description('Light orchestrator for systemd + Podman + Caddy: services, deployments, functions')
    .version(readVersion(), '-V, --version')
    .option('--root <dir>', 'prefix of every host path (/etc/conductor, /run/conductor...); env CONDUCTOR_ROOT')
    .option('--services-dir <dir>', 'services directory (default ROOT/etc/conductor/services); env CONDUCTOR_SERVICES_DIR')
    .option('--template-timeout <sec>', 'kill templates after SEC seconds (default: the service\'s template_timeout_sec, else 30)')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: s => io.out(s), writeErr: s => io.err(s) })
    .exitOverride()

  const makeCtx = (cmd: Command): Ctx => createCtx(cmd.optsWithGlobals<GlobalOptions>(), io, env)
  const internal = program.command('_').description('Internals: simulate templates (see `conductor _ service template --help`)')

  registerServiceCommands(program, makeCtx)
  registerDeploymentCommands(program, internal, makeCtx)
  registerSchemaCommand(program, makeCtx)
  registerGatewayCommand(program, makeCtx)
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
  io.err(`conductor: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  return EXIT.failure
}

function allCommands (cmd: Command): Command[] {
  return cmd.commands.flatMap(c => [c, ...allCommands(c)])
}

function readVersion (): string {
  // Works from the sources (conductor/cli.ts) and from the build (dist/conductor/cli.js).
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string, version?: string }
      if (pkg.name === 'conductor' && pkg.version !== undefined) return pkg.version
    } catch { /* keep walking up */ }
    dir = path.dirname(dir)
  }
  return '0.0.0'
}
