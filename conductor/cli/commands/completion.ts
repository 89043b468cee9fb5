import type { Command } from 'commander'
import { readdirSync } from 'node:fs'
import { bashScript, complete, zshScript } from '../completion.js'
import { ctxServices } from '../../context.js'
import { UsageError } from '../../../errors/index.js'
import type { CtxFactory } from './types.js'

export function registerCompletionCommands(program: Command, makeCtx: CtxFactory): void {
  program
    .command('completion')
    .description('Print the shell completion script (bash or zsh)')
    .argument('<shell>', 'bash | zsh')
    .action(function (this: Command, shell: string) {
      const ctx = makeCtx(this)
      if (shell === 'bash') ctx.io.out(bashScript())
      else if (shell === 'zsh') ctx.io.out(zshScript())
      else throw new UsageError(`unknown shell "${shell}"; supported: bash, zsh`)
    })
  program
    .command('__complete', { hidden: true })
    .description('Completion candidates for the words after "conductor" (used by the completion scripts)')
    .argument('[words...]')
    .allowUnknownOption()
    .action(async function (this: Command, words: string[]) {
      const ctx = makeCtx(this)
      const candidates = await complete(program, words.length === 0 ? [''] : words, {
        services: async () => (await ctxServices(ctx)).map(e => e.name),
        // Deployment directories are named by deployment id.
        deployments: async () => {
          try {
            return readdirSync(ctx.roots.deployments)
          } catch {
            return []
          }
        }
      })
      ctx.io.out(candidates.map(c => c + '\n').join(''))
    })
}
