import t from 'tap'
import { readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { createPrivateKey } from 'node:crypto'
import { decodeJwt, importSPKI, jwtVerify, SignJWT } from 'jose'
import { signCommandToken, COMMAND_CLAIMS } from '../../conductor/keys.js'
import { cli, cliProcess } from '../harness/cli.js'
import { startLoggedGateway } from '../harness/gateway.js'
import { tempDir, writeTree } from '../harness/tmp.js'

for (const alg of ['ES256', 'EdDSA']) {
  t.test(`key generate (${alg}) writes a 0600 private key and prints a policy entry that verifies its tokens`, async t => {
    const root = tempDir(t)
    const r = await cliProcess(['key', 'generate', 'ci-bot', '--alg', alg, '--audience', 'srv.example.org', '--audience', 'SRV2.example.org', '--json'], { CONDUCTOR_ROOT: root })
    t.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout)
    t.equal(statSync(out.private_key_file).mode & 0o777, 0o600)
    t.equal(path.dirname(out.private_key_file), path.join(root, 'var/lib/conductor/keys'))
    t.match(out.policy_entry.public_key, /^-----BEGIN PUBLIC KEY-----/)
    t.equal(out.policy_entry.issuer, 'ci-bot')
    t.same(out.policy_entry.audience, ['srv.example.org', 'srv2.example.org'], 'the gateway checks aud')
    t.equal(out.policy_entry.max_lifetime_sec, 300)
    t.equal(out.policy_entry.subject, 'ci-bot', 'the entry pins the subject to the key name')
    t.notMatch(r.stdout + r.stderr, /BEGIN PRIVATE KEY/, 'the private key is never printed')

    const token = await signCommandToken({ privateKeyFile: out.private_key_file, issuer: 'ci-bot', audience: 'srv.example.org', service: 'shop', command: 'db:migrate' })
    const { payload, protectedHeader } = await jwtVerify(token, await importSPKI(out.policy_entry.public_key, alg), { audience: 'srv.example.org', issuer: 'ci-bot', algorithms: [alg] })
    t.equal(protectedHeader.alg, alg, 'algorithm follows the key')
    t.equal(payload[COMMAND_CLAIMS.service], 'shop')
    t.equal(payload[COMMAND_CLAIMS.command], 'db:migrate')
    t.ok(typeof payload.jti === 'string' && payload.jti.length >= 32, 'unique jti')
    t.ok(payload.exp! - payload.iat! <= 300, 'lives at most 5 minutes')
    t.not(decodeJwt(await signCommandToken({ privateKeyFile: out.private_key_file, issuer: 'ci-bot', audience: 'a', service: 's', command: 'c' })).jti, payload.jti)

    const foreign = await signCommandToken({ privateKeyFile: out.private_key_file, issuer: 'ci-bot', audience: 'other.example.org', service: 's', command: 'c' })
    await t.rejects(jwtVerify(foreign, await importSPKI(out.policy_entry.public_key, alg), { audience: out.policy_entry.audience }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' }, 'a token for another server fails the entry\'s audience')
    const show = await cli(['--root', root, 'key', 'show', 'ci-bot', '--audience', 'srv.example.org', '--audience', 'srv2.example.org'])
    t.same(JSON.parse(show.stdout), out.policy_entry)
    const again = await cli(['--root', root, 'key', 'generate', 'ci-bot', '--audience', 'srv.example.org'])
    t.equal(again.code, 1)
    t.match(again.stderr, /already exists; use --force/)
    t.equal(readFileSync(out.public_key_file, 'utf8').trim(), out.policy_entry.public_key, 'refusing did not overwrite')
  })
}

t.test('the printed entry pins the subject: another sub, though signed by the key, is refused (item 12)', async t => {
  const root = tempDir(t)
  const env = { CONDUCTOR_ROOT: root }
  const r = await cliProcess(['key', 'generate', 'ci-bot', '--audience', 'srv.example.org', '--json'], env)
  t.equal(r.code, 0, r.stderr)
  const out = JSON.parse(r.stdout)
  const ops = { match: [{ meta: { 'peer-id': 'ci' }, bearer: [out.policy_entry] }] }
  writeTree(root, { 'etc/conductor/policies/ops.json': ops })
  const { gwPort } = await startLoggedGateway(t, root)
  const auth = async (token: string): Promise<Response> =>
    await fetch(`http://127.0.0.1:${gwPort}/auth?policy=ops`, { headers: { authorization: `Bearer ${token}` } })
  const privateKeyFile = out.private_key_file as string
  const claims = { issuer: 'ci-bot', audience: 'srv.example.org', service: 's', command: 'c' }
  const signed = await signCommandToken({ privateKeyFile, ...claims })
  const ok = await auth(signed)
  t.same([ok.status, ok.headers.get('x-conductor-subject')], [200, 'ci-bot'], 'conductor signs sub = the key name')
  const now = Math.floor(Date.now() / 1000)
  const forged = await new SignJWT({ sub: 'admin' }).setProtectedHeader({ alg: 'ES256' })
    .setIssuer('ci-bot').setAudience('srv.example.org').setIssuedAt(now).setExpirationTime(now + 60)
    .sign(createPrivateKey(readFileSync(privateKeyFile)))
  const refused = await auth(forged)
  t.equal(refused.status, 401, 'another sub, even signed by the key, is refused')
})

t.test('bad key input is refused with clear errors', async t => {
  const root = tempDir(t)
  t.equal((await cli(['--root', root, 'key', 'generate', 'x', '--alg', 'HS256', '--audience', 'h'])).code, 2)
  const noAudience = await cli(['--root', root, 'key', 'generate', 'x'])
  t.equal(noAudience.code, 2, 'an entry without audience would let any server\'s token in')
  t.match(noAudience.stderr, /give --audience HOST/)
  t.equal((await cli(['--root', root, 'key', 'generate', 'x', '--audience', 'https://h:443'])).code, 2, 'a URL is not a host name')
  t.equal((await cli(['--root', root, 'key', 'show', 'x', '--audience', 'h'])).code, 4, 'nothing was written by the refused calls')
  t.equal((await cli(['--root', root, 'key', 'show', 'nobody'])).code, 4)
  await t.rejects(signCommandToken({ privateKeyFile: path.join(root, 'none.key'), issuer: 'i', audience: 'a', service: 's', command: 'c' }), { code: 'CND_KEY_NOT_FOUND' })
  await t.rejects(signCommandToken({ privateKeyFile: '/etc/hostname', issuer: 'i', audience: 'a', service: 's', command: 'c' }), { code: 'CND_USAGE' })
  await t.rejects(signCommandToken({ privateKeyFile: '/etc/hostname', issuer: 'i', audience: 'a', service: 's', command: 'c', ttlSec: 3600 }), { message: /between 1 and 300/ })
})
