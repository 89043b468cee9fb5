import type { Command } from 'commander'
import { UsageError } from '../errors.js'
import { renderJson } from '../output.js'
import type { CtxFactory } from './types.js'

export function registerSchemaCommand (program: Command, makeCtx: CtxFactory): void {
  program.command('schema')
    .description('Print the JSON Schema of conductor-service.json (for editors: "$schema")')
    .argument('[kind]', 'service', 'service')
    .action(async function (this: Command, kind: string) {
      if (kind !== 'service') throw new UsageError(`unknown schema "${kind}"; known: service`)
      // zod is loaded only for the commands that need it (startup time).
      const { serviceJsonSchema } = await import('../service-schema.js')
      makeCtx(this).io.out(renderJson(serviceJsonSchema()))
    })
}
