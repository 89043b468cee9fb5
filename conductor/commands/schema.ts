import type { Command } from 'commander'
import { policyJsonSchema } from '../../policies/index.js'
import { UsageError } from '../errors.js'
import { renderJson } from '../output.js'
import { serviceJsonSchema } from '../service-schema.js'
import type { CtxFactory } from './types.js'

const SCHEMAS: Record<string, () => unknown> = {
  service: serviceJsonSchema,
  policy: policyJsonSchema
}

export function registerSchemaCommand (program: Command, makeCtx: CtxFactory): void {
  program.command('schema')
    .description('Print the JSON Schema of conductor-service.json (service) or of a policy file (policy), for editors: "$schema"')
    .argument('[kind]', Object.keys(SCHEMAS).join(' | '), 'service')
    .action(function (this: Command, kind: string) {
      const schema = SCHEMAS[kind]
      if (schema === undefined) throw new UsageError(`unknown schema "${kind}"; known: ${Object.keys(SCHEMAS).join(', ')}`)
      makeCtx(this).io.out(renderJson(schema()))
    })
}
