import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { Test } from 'tap'
import { cli } from './cli.js'

export interface GeneratedKey {
  private_key_file: string
  policy_entry: object
}

/**
 * Two key pairs made by the real `conductor key generate` under ROOT/keys, for audience
 * 127.0.0.1: `ci`, whose policy entry a test puts in its policy, and `intruder`, which it
 * leaves out. A generation that fails fails the test with the CLI's stderr.
 */
export async function ciAndIntruderKeys(t: Test, root: string): Promise<{ ci: GeneratedKey; intruder: GeneratedKey }> {
  const dir = path.join(root, 'keys')
  const generate = async (name: string): Promise<GeneratedKey> => {
    const r = await cli(['--root', root, 'key', 'generate', name, '--dir', dir, '--audience', '127.0.0.1', '--json'])
    t.equal(r.code, 0, r.stderr)
    return JSON.parse(r.stdout) as GeneratedKey
  }
  return { ci: await generate('ci'), intruder: await generate('intruder') }
}

/**
 * A token signed with a key made by `conductor key generate` (ES256), with exactly the claims
 * given: what a key holder could sign by hand (no jti, another command, odd types...).
 */
export async function signWithKeyFile(privateKeyFile: string, claims: Record<string, unknown>): Promise<string> {
  const { importPKCS8, SignJWT } = await import('jose')
  const now = Math.floor(Date.now() / 1000)
  const key = await importPKCS8(readFileSync(privateKeyFile, 'utf8'), 'ES256')
  return await new SignJWT({ iat: now, exp: now + 120, ...claims })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT' })
    .sign(key)
}

/** The same token with its signature padded to a multiple of 4 ("=="): jose accepts it, RFC 7515 does not. */
export function padded(token: string): string {
  const sig = token.slice(token.lastIndexOf('.') + 1)
  return token + '='.repeat((4 - (sig.length % 4)) % 4)
}
