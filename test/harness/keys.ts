import path from 'node:path'
import type { Test } from 'tap'
import { cli } from './cli.js'

export interface GeneratedKey { private_key_file: string, policy_entry: object }

/**
 * Two key pairs made by the real `conductor key generate` under ROOT/keys, for audience
 * 127.0.0.1: `ci`, whose policy entry a test puts in its policy, and `intruder`, which it
 * leaves out. A generation that fails fails the test with the CLI's stderr.
 */
export async function ciAndIntruderKeys (t: Test, root: string): Promise<{ ci: GeneratedKey, intruder: GeneratedKey }> {
  const dir = path.join(root, 'keys')
  const generate = async (name: string): Promise<GeneratedKey> => {
    const r = await cli(['--root', root, 'key', 'generate', name, '--dir', dir, '--audience', '127.0.0.1', '--json'])
    t.equal(r.code, 0, r.stderr)
    return JSON.parse(r.stdout) as GeneratedKey
  }
  return { ci: await generate('ci'), intruder: await generate('intruder') }
}
