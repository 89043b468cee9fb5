import { Command, CommanderError } from 'commander'
import type { CtxFactory } from './commands/types.js'
import { createCtx, type Ctx, type GlobalOptions } from '../context.js'
import { ConductorError, EXIT } from '../../errors/index.js'
import { ExitStatus, Reported } from './exit.js'
import { processIo, type Io } from '../output.js'
import { readVersion } from '../model/index.js'
// The CLI entry: builds the commander program, runs it, and turns errors into exit codes.
// Each area registers its own commands (commands/*.ts) so they stay small and separate.

type Register = (program: Command, internal: Command, makeCtx: CtxFactory) => void

// Every command module, in help order, with the top-level commands it registers. Startup time
// matters (a `service ls` is typed by hand and run by scripts): loading all of them pulls in
// zod, Caddy and reconcile code a given command never uses, so runCli loads only the module of
// the command asked for, and all of them for help, completion and unknown commands.
const COMMAND_MODULES: Array<{ names: string[]; load: () => Promise<Register> }> = [
  {
    names: ['service'],
    load: async () => {
      const m = await import('./commands/service.js')
      return (p, _i, c) => m.registerServiceCommands(p, c)
    }
  },
  {
    names: ['deployment', '_'],
    load: async () => {
      const m = await import('./commands/deployment.js')
      return (p, i, c) => m.registerDeploymentCommands(p, i, c)
    }
  },
  {
    names: ['deploy', 'deployment'],
    load: async () => {
      const m = await import('./commands/deploy.js')
      return (p, _i, c) => m.registerDeployCommands(p, c)
    }
  },
  {
    names: ['schema'],
    load: async () => {
      const m = await import('./commands/schema.js')
      return (p, _i, c) => m.registerSchemaCommand(p, c)
    }
  },
  {
    names: ['gateway'],
    load: async () => {
      const m = await import('./commands/gateway.js')
      return (p, _i, c) => m.registerGatewayCommand(p, c)
    }
  },
  {
    names: ['key'],
    load: async () => {
      const m = await import('./commands/key.js')
      return (p, _i, c) => m.registerKeyCommands(p, c)
    }
  },
  {
    names: [],
    load: async () => {
      const m = await import('./commands/completion.js')
      return (p, _i, c) => m.registerCompletionCommands(p, c)
    }
  },
  {
    names: ['doctor'],
    load: async () => {
      const m = await import('./commands/doctor.js')
      return (p, _i, c) => m.registerDoctorCommand(p, c)
    }
  },
  {
    names: ['system'],
    load: async () => {
      const m = await import('./commands/system.js')
      return (p, _i, c) => m.registerSystemCommands(p, c)
    }
  },
  {
    names: ['reload'],
    load: async () => {
      const m = await import('./commands/reload.js')
      return (p, _i, c) => m.registerReloadCommand(p, c)
    }
  },
  {
    names: ['run', 'action'],
    load: async () => {
      const m = await import('./commands/run.js')
      return (p, _i, c) => m.registerRunCommands(p, c)
    }
  },
  {
    names: ['policy'],
    load: async () => {
      const m = await import('./commands/policy.js')
      return (p, _i, c) => m.registerPolicyCommands(p, c)
    }
  },
  {
    names: ['caddy'],
    load: async () => {
      const m = await import('./commands/caddy.js')
      return (p, _i, c) => m.registerCaddyCommands(p, c)
    }
  },
  {
    names: ['function'],
    load: async () => {
      const m = await import('./commands/function.js')
      return (p, _i, c) => m.registerFunctionCommands(p, c)
    }
  },
  {
    names: ['peer', 'peers', '_'],
    load: async () => {
      const m = await import('./commands/peer.js')
      return (p, i, c) => m.registerPeerCommands(p, i, c)
    }
  },
  {
    names: ['fleet'],
    load: async () => {
      const m = await import('./commands/fleet.js')
      return (p, _i, c) => m.registerFleetCommands(p, c)
    }
  }
]

// Global options that take a value, to find the command word in argv.
const GLOBAL_OPTIONS_WITH_VALUE = new Set([
  '--root',
  '--services-dir',
  '--scope',
  '--policies-dir',
  '--template-timeout',
  '--caddy-admin'
])

/** The top-level command word of argv, or undefined (help, version, none). */
export function commandWord(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (GLOBAL_OPTIONS_WITH_VALUE.has(a)) {
      i++
      continue
    }
    if (a.startsWith('-')) continue
    return a
  }
  return undefined
}

/**
 * Builds the commander program. With `argv`, only the command modules that argv's command
 * needs are loaded; without (or for an unknown command, help, completion), all of them.
 */
export async function buildProgram(
  io: Io = processIo,
  env: NodeJS.ProcessEnv = process.env,
  argv?: string[]
): Promise<Command> {
  const program = new Command('conductor')
    .description('Light orchestrator for systemd + Podman + Caddy: services, deployments, functions')
    .version(readVersion(), '-V, --version')
    .option('--root <dir>', 'prefix of every host path (/etc/conductor, /run/conductor...); env CONDUCTOR_ROOT')
    .option(
      '--services-dir <dir>',
      'services directory (default ROOT/etc/conductor/services); env CONDUCTOR_SERVICES_DIR'
    )
    .option(
      '--scope <scope>',
      'systemd scope: system (/etc/systemd/system, default) or user (~/.config/systemd/user, systemctl --user); env CONDUCTOR_SCOPE, host.json "scope"'
    )
    .option(
      '--policies-dir <dir>',
      'policies directory (default ROOT/etc/conductor/policies); env CONDUCTOR_POLICIES_DIR'
    )
    .option(
      '--template-timeout <sec>',
      "kill templates after SEC seconds (default: the service's template_timeout_sec, else 30)"
    )
    .option(
      '--caddy-admin <url>',
      'Caddy admin API (http://HOST:PORT or unix//PATH); env CONDUCTOR_CADDY_ADMIN, host.json caddy_admin, default http://localhost:2019'
    )
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: s => io.out(s), writeErr: s => io.err(s) })
    .exitOverride()

  const makeCtx = (cmd: Command): Ctx => createCtx(cmd.optsWithGlobals<GlobalOptions>(), io, env)
  const internal = program
    .command('_')
    .description('Internals: simulate templates (`conductor _ service template --help`), config unit commands')

  const word = argv === undefined ? undefined : commandWord(argv)
  const wanted = word === undefined ? COMMAND_MODULES : COMMAND_MODULES.filter(m => m.names.includes(word))
  // `conductor --version` (what scripts and installers run first) prints before any command exists.
  const versionOnly =
    word === undefined &&
    argv !== undefined &&
    argv.some(a => a === '-V' || a === '--version') &&
    !argv.some(a => a === '-h' || a === '--help')
  const modules = versionOnly ? [] : wanted.length > 0 ? wanted : COMMAND_MODULES
  // Loaded in parallel, registered in the table's order (help lists commands in that order).
  const registers = await Promise.all(modules.map(async m => await m.load()))
  for (const register of registers) register(program, internal, makeCtx)

  // Every subcommand shares the parent's output and exit behaviour.
  for (const cmd of allCommands(program)) {
    cmd
      .configureOutput({ writeOut: s => io.out(s), writeErr: s => io.err(s) })
      .exitOverride()
      .showHelpAfterError('(run with --help for usage)')
  }
  return program
}

/** Runs the CLI; resolves to the exit code instead of exiting, so tests can call it. */
export async function runCli(
  argv: string[],
  io: Io = processIo,
  env: NodeJS.ProcessEnv = process.env
): Promise<number> {
  const program = await buildProgram(io, env, argv)
  try {
    await program.parseAsync(argv, { from: 'user' })
    return EXIT.ok
  } catch (err) {
    return reportError(err, io)
  }
}

/**
 * The one place a command's end becomes the exit code (exit.ts): an error's code from the
 * catalogue (its message printed unless the command reported it already), a program's status
 * as it is, anything else an internal error with its stack.
 */
export function reportError(err: unknown, io: Io): number {
  if (err instanceof CommanderError) {
    // Help and version "errors" are normal exits.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help')
      return EXIT.ok
    return err.exitCode === 0 ? EXIT.ok : EXIT.usage
  }
  if (err instanceof ExitStatus) return err.status
  if (err instanceof ConductorError) {
    if (!(err instanceof Reported)) io.err(`conductor: error: ${err.message}\n`)
    return err.exitCode
  }
  io.err(`conductor: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  return EXIT.failure
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap(c => [c, ...allCommands(c)])
}
