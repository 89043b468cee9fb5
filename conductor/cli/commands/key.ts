import type { Command } from 'commander'
import path from 'node:path'
import { UsageError } from '../../../errors/index.js'
import {
  KEY_ALGORITHMS,
  generateKeyPair,
  normalizeAudiences,
  policyEntry,
  readPublicKey,
  type KeyAlgorithm
} from '../../run/index.js'
import { renderJson } from '../../output.js'
import type { CtxFactory } from './types.js'

const AUDIENCE_HELP =
  "host name clients use in --remote https://HOST (repeatable); the policy entry requires it as the token's aud, so tokens for another server are refused"

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

export function registerKeyCommands(program: Command, makeCtx: CtxFactory): void {
  const key = program.command('key').description('Key pairs that sign remote command tokens')
  key
    .command('generate')
    .description('Create a key pair (private key mode 0600) and print the policy entry for its public key')
    .argument('<name>', 'key name; also the token issuer')
    .option('--audience <host>', AUDIENCE_HELP, collect)
    .option('--alg <alg>', `algorithm: ${KEY_ALGORITHMS.join(' or ')}`, 'ES256')
    .option('--dir <dir>', 'keys directory (default ROOT/var/lib/conductor/keys)')
    .option('--force', 'replace an existing key')
    .option('--json', 'print JSON')
    .action(async function (
      this: Command,
      name: string,
      opts: { alg: string; audience?: string[]; dir?: string; force?: boolean; json?: boolean }
    ) {
      const ctx = makeCtx(this)
      if (!(KEY_ALGORITHMS as readonly string[]).includes(opts.alg))
        throw new UsageError(`--alg ${opts.alg}: expected ${KEY_ALGORITHMS.join(' or ')}`)
      // Checked before anything is written.
      normalizeAudiences(opts.audience ?? [])
      const dir = opts.dir ?? path.join(ctx.roots.lib, 'keys')
      const { files, publicPem } = await generateKeyPair(dir, name, opts.alg as KeyAlgorithm, opts.force === true)
      const entry = policyEntry(publicPem, name, opts.audience ?? [])
      if (opts.json === true) {
        ctx.io.out(
          renderJson({
            name,
            alg: opts.alg,
            private_key_file: files.privateKey,
            public_key_file: files.publicKey,
            policy_entry: entry
          })
        )
      } else {
        ctx.io.err(
          `private key: ${files.privateKey} (keep it secret)\npublic key:  ${files.publicKey}\nAdd this entry to a "bearer" list of a policy:\n`
        )
        ctx.io.out(renderJson(entry))
      }
    })
  key
    .command('show')
    .description('Print the policy entry (public key) of a key pair')
    .argument('<name>', 'key name')
    .option('--audience <host>', AUDIENCE_HELP, collect)
    .option('--dir <dir>', 'keys directory (default ROOT/var/lib/conductor/keys)')
    .option('--json', 'print JSON (the same entry)')
    .action(function (this: Command, name: string, opts: { audience?: string[]; dir?: string }) {
      const ctx = makeCtx(this)
      ctx.io.out(
        renderJson(
          policyEntry(readPublicKey(opts.dir ?? path.join(ctx.roots.lib, 'keys'), name), name, opts.audience ?? [])
        )
      )
    })
}
