import t from 'tap'
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync
} from 'node:fs'
import path from 'node:path'
import { createPrivateKey } from 'node:crypto'
import { decodeJwt, importSPKI, jwtVerify, SignJWT } from 'jose'
import { generateKeyPair, signCommandToken, COMMAND_CLAIMS } from '../../../../conductor/run/keys.js'
import { cli, cliProcess } from '../../../harness/cli.js'
import { startLoggedGateway } from '../../../harness/gateway.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

for (const alg of ['ES256', 'EdDSA']) {
  t.test(
    `key generate (${alg}) writes a 0600 private key and prints a policy entry that verifies its tokens`,
    async t => {
      const root = tempDir(t)
      const r = await cliProcess(
        [
          'key',
          'generate',
          'ci-bot',
          '--alg',
          alg,
          '--audience',
          'srv.example.org',
          '--audience',
          'SRV2.example.org',
          '--json'
        ],
        { CONDUCTOR_ROOT: root }
      )
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

      const token = await signCommandToken({
        privateKeyFile: out.private_key_file,
        issuer: 'ci-bot',
        audience: 'srv.example.org',
        service: 'shop',
        command: 'db:migrate'
      })
      const { payload, protectedHeader } = await jwtVerify(token, await importSPKI(out.policy_entry.public_key, alg), {
        audience: 'srv.example.org',
        issuer: 'ci-bot',
        algorithms: [alg]
      })
      t.equal(protectedHeader.alg, alg, 'algorithm follows the key')
      t.equal(payload[COMMAND_CLAIMS.service], 'shop')
      t.equal(payload[COMMAND_CLAIMS.command], 'db:migrate')
      t.ok(typeof payload.jti === 'string' && payload.jti.length >= 32, 'unique jti')
      t.ok(payload.exp! - payload.iat! <= 300, 'lives at most 5 minutes')
      t.not(
        decodeJwt(
          await signCommandToken({
            privateKeyFile: out.private_key_file,
            issuer: 'ci-bot',
            audience: 'a',
            service: 's',
            command: 'c'
          })
        ).jti,
        payload.jti
      )

      const foreign = await signCommandToken({
        privateKeyFile: out.private_key_file,
        issuer: 'ci-bot',
        audience: 'other.example.org',
        service: 's',
        command: 'c'
      })
      await t.rejects(
        jwtVerify(foreign, await importSPKI(out.policy_entry.public_key, alg), { audience: out.policy_entry.audience }),
        { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' },
        "a token for another server fails the entry's audience"
      )
      const show = await cli([
        '--root',
        root,
        'key',
        'show',
        'ci-bot',
        '--audience',
        'srv.example.org',
        '--audience',
        'srv2.example.org'
      ])
      t.same(JSON.parse(show.stdout), out.policy_entry)
      const again = await cli(['--root', root, 'key', 'generate', 'ci-bot', '--audience', 'srv.example.org'])
      t.equal(again.code, 1)
      t.match(again.stderr, /already exists; use --force/)
      t.equal(
        readFileSync(out.public_key_file, 'utf8').trim(),
        out.policy_entry.public_key,
        'refusing did not overwrite'
      )
    }
  )
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
  const forged = await new SignJWT({ sub: 'admin' })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer('ci-bot')
    .setAudience('srv.example.org')
    .setIssuedAt(now)
    .setExpirationTime(now + 60)
    .sign(createPrivateKey(readFileSync(privateKeyFile)))
  const refused = await auth(forged)
  t.equal(refused.status, 401, 'another sub, even signed by the key, is refused')
})

t.test('bad key input is refused with clear errors', async t => {
  const root = tempDir(t)
  t.equal((await cli(['--root', root, 'key', 'generate', 'x', '--alg', 'HS256', '--audience', 'h'])).code, 2)
  const noAudience = await cli(['--root', root, 'key', 'generate', 'x'])
  t.equal(noAudience.code, 2, "an entry without audience would let any server's token in")
  t.match(noAudience.stderr, /give --audience HOST/)
  t.equal(
    (await cli(['--root', root, 'key', 'generate', 'x', '--audience', 'https://h:443'])).code,
    2,
    'a URL is not a host name'
  )
  t.equal(
    (await cli(['--root', root, 'key', 'show', 'x', '--audience', 'h'])).code,
    4,
    'nothing was written by the refused calls'
  )
  t.equal((await cli(['--root', root, 'key', 'show', 'nobody'])).code, 4)
  await t.rejects(
    signCommandToken({
      privateKeyFile: path.join(root, 'none.key'),
      issuer: 'i',
      audience: 'a',
      service: 's',
      command: 'c'
    }),
    { code: 'CND_KEY_NOT_FOUND' }
  )
  await t.rejects(
    signCommandToken({ privateKeyFile: '/etc/hostname', issuer: 'i', audience: 'a', service: 's', command: 'c' }),
    { code: 'CND_USAGE' }
  )
  await t.rejects(
    signCommandToken({
      privateKeyFile: '/etc/hostname',
      issuer: 'i',
      audience: 'a',
      service: 's',
      command: 'c',
      ttlSec: 3600
    }),
    { message: /between 1 and 300/ }
  )
})

// Issue 13 item 10: `key generate --force` must never write the private key into a file
// someone else created, nor through a link, nor into a directory others can change.
const generateArgs = (dir: string, name = 'ci'): string[] => [
  'key',
  'generate',
  name,
  '--dir',
  dir,
  '--audience',
  'h.example.org',
  '--force',
  '--json'
]
const isRoot = process.getuid?.() === 0

const needsRoot = { skip: isRoot ? false : 'needs root to chown a file to another uid' }

t.test('key generate --force replaces a file another user owns with a new one of ours', needsRoot, async t => {
  const dir = path.join(tempDir(t), 'keys')
  mkdirSync(dir, { mode: 0o700 })
  const keyFile = path.join(dir, 'ci.key')
  writeFileSync(keyFile, 'planted by uid 65534\n', { mode: 0o644 })
  chownSync(keyFile, 65534, 65534)
  writeFileSync(path.join(dir, 'ci.pub'), 'planted public key\n', { mode: 0o666 })
  chownSync(path.join(dir, 'ci.pub'), 65534, 65534)
  // A second name for the planted inode: what its owner can still read after the command.
  const theirs = path.join(tempDir(t), 'their-view')
  linkSync(keyFile, theirs)
  const before = statSync(keyFile)

  const r = await cliProcess(generateArgs(dir))
  t.equal(r.code, 0, r.stderr)
  const after = statSync(keyFile)
  t.equal(after.uid, process.getuid!(), 'the key file is ours now')
  t.equal(after.mode & 0o777, 0o600)
  t.not(after.ino, before.ino, 'a new file, not the planted one rewritten')
  t.equal(readFileSync(theirs, 'utf8'), 'planted by uid 65534\n', "the other user's file holds only what they wrote")
  t.equal(statSync(theirs).uid, 65534)
  t.match(readFileSync(keyFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----/)
  t.equal(
    statSync(path.join(dir, 'ci.pub')).uid,
    process.getuid!(),
    'the public key file is replaced too (its owner could swap the key a policy trusts)'
  )
  t.equal(statSync(path.join(dir, 'ci.pub')).mode & 0o777, 0o644)
  t.same(readdirSync(dir).sort(), ['ci.key', 'ci.pub'], 'no temporary file left behind')
})

t.test('key generate refuses a keys directory others can write or another user owns', async t => {
  for (const mode of [0o777, 0o770, 0o1777]) {
    const dir = path.join(tempDir(t), 'keys')
    mkdirSync(dir)
    chmodSync(dir, mode)
    const r = await cliProcess(generateArgs(dir))
    t.equal(r.code, 1, `mode ${mode.toString(8)}: refused`)
    t.match(r.stderr, `${dir}: the keys directory is writable by`, 'the error names the directory')
    t.match(r.stderr, `fix: chmod 700 ${dir}`, 'and the fix')
    await t.rejects(generateKeyPair(dir, 'ci', 'ES256', true), { code: 'CND_KEY_DIR_UNSAFE' })
    t.same(readdirSync(dir), [], 'nothing was written')
  }
  if (!isRoot) return
  const owned = path.join(tempDir(t), 'keys')
  mkdirSync(owned, { mode: 0o700 })
  chownSync(owned, 65534, 65534)
  const r = await cliProcess(generateArgs(owned))
  t.equal(r.code, 1, 'a directory owned by another user: refused')
  t.match(r.stderr, `${owned}: the keys directory is owned by uid 65534`)
  t.match(r.stderr, `chown ${process.getuid!()} ${owned}`)
  t.same(readdirSync(owned), [])
})

t.test('key generate does not follow a symbolic link at a key path', async t => {
  const elsewhere = tempDir(t)
  const target = path.join(elsewhere, 'target')
  writeFileSync(target, 'not a key\n')
  const dangling = path.join(elsewhere, 'dangling')
  const cases = [
    ['ci.key', target, true],
    ['ci.key', dangling, false],
    ['ci.pub', target, true]
  ] as const
  for (const [file, points, force] of cases) {
    const dir = path.join(tempDir(t), 'keys')
    mkdirSync(dir, { mode: 0o700 })
    symlinkSync(points, path.join(dir, file))
    const r = await cliProcess(force ? generateArgs(dir) : generateArgs(dir).filter(a => a !== '--force'))
    t.equal(r.code, 1, `${file} -> ${points}: refused`)
    t.match(r.stderr, `${path.join(dir, file)}: is a symbolic link`)
    await t.rejects(generateKeyPair(dir, 'ci', 'ES256', force), { code: 'CND_KEY_SYMLINK' })
    t.ok(lstatSync(path.join(dir, file)).isSymbolicLink(), 'the link is left as it was')
  }
  t.equal(readFileSync(target, 'utf8'), 'not a key\n', 'the link target was not written')
  t.notOk(existsSync(dangling), 'a dangling link did not create its target')
})
