import type { Command } from 'commander'
import { UsageError } from '../../../errors/index.js'
import { renderJson } from '../../output.js'
import { loadModelSchemas, serviceJsonSchema } from '../../model/index.js'
import type { CtxFactory } from './types.js'

// zod (and jose, through policies/) are loaded only when a schema is asked for (startup time).
const SCHEMAS: Record<string, () => Promise<unknown>> = {
  service: async () => await serviceJsonSchema(),
  policy: async () => (await import('../../../policies/index.js')).policyJsonSchema(),
  host: async () => (await loadModelSchemas()).hostJsonSchema()
}

export function registerSchemaCommand(program: Command, makeCtx: CtxFactory): void {
  program
    .command('schema')
    .description(
      'Print the JSON Schema of conductor-service.json (service), of a policy file (policy) or of host.json (host), ' +
        'for editors: "$schema"'
    )
    .argument('[kind]', Object.keys(SCHEMAS).join(' | '), 'service')
    .action(async function (this: Command, kind: string) {
      const schema = SCHEMAS[kind]
      if (schema === undefined)
        throw new UsageError(`unknown schema "${kind}"; known: ${Object.keys(SCHEMAS).join(', ')}`)
      makeCtx(this).io.out(renderJson(await schema()))
    })
}
