import t from 'tap'
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  addCredentials,
  credentialKind,
  newInvite,
  parseInviteSecret,
  parsePubkey,
  pubkeyToken
} from '../../../../conductor/cluster/credentials.js'
import { checkRecord, spkiPin } from '../../../../conductor/cluster/records.js'
import { parseAddPeer } from '../../../../conductor/cluster/wire.js'

// The strings operators pass between hosts (an invite secret, a public key) cannot be taken for
// one another; records and add-peer bodies from the wire are checked field by field.

t.test('invite secrets and public keys', async t => {
  const inv = newInvite()
  t.match(inv.secret, /^cndinv1\.[0-9a-f]{16}\.[A-Za-z0-9_-]+$/)
  t.ok(inv.secret.length < 120, `short enough to copy (${inv.secret.length} characters)`)
  const parsed = parseInviteSecret(` ${inv.secret}\n`)
  t.equal(parsed.id, inv.id)
  t.match(parsed.privateKeyPem, /BEGIN PRIVATE KEY/)
  t.throws(() => parseInviteSecret('nonsense'), { code: 'CND_PEER_CREDENTIAL_INVALID' })
  t.throws(() => parseInviteSecret(inv.secret.slice(0, -10)), { code: 'CND_PEER_CREDENTIAL_INVALID' }, 'truncated')
  t.throws(() => parseInviteSecret(inv.publicKeyPem), { message: /this is a public key/ })
  t.throws(() => parsePubkey(inv.secret), { message: /this is an invite secret/ })
  const err = (() => {
    try {
      parseInviteSecret(inv.secret.slice(0, -10))
    } catch (e) {
      return (e as Error).message
    }
    return ''
  })()
  t.notMatch(err, inv.secret.slice(20, 40), 'an error never echoes the secret')

  const dir = mkdtempSync(path.join(os.tmpdir(), 'conductor-cred-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const k = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  writeFileSync(path.join(dir, 'k.pem'), k.privateKey.export({ type: 'pkcs8', format: 'pem' }))
  const cert = execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-new',
      '-key',
      path.join(dir, 'k.pem'),
      '-subj',
      '/CN=peer-a',
      '-days',
      '1',
      '-addext',
      'subjectAltName=IP:192.0.2.1'
    ],
    { encoding: 'utf8' }
  )
  const token = pubkeyToken(cert)
  t.match(token, /^cndpub1\./)
  const pk = parsePubkey(token)
  t.same([pk.id, pk.hostname], ['peer-a', '192.0.2.1'], 'a cndpub1 key names its peer and hostname')
  t.equal(spkiPin(pk.public_key), spkiPin(k.publicKey.export({ type: 'spki', format: 'pem' }).toString()))
  t.equal(
    parsePubkey(k.publicKey.export({ type: 'spki', format: 'pem' }).toString()).route_cert,
    undefined,
    'a plain PEM: no route'
  )
  t.throws(() => parsePubkey(k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()), {
    message: /PRIVATE key/
  })
  t.throws(() => parsePubkey('cndpub1.AAAA'), { code: 'CND_PEER_CREDENTIAL_INVALID' })
})

t.test(
  'peer add HOSTNAME X: an invite secret or a public key (the seed manual form), told apart by format',
  async t => {
    const inv = newInvite()
    const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString()
    const cndpub = 'cndpub1.MIIBkTCB-w' // a prefix is all the kind looks at
    t.equal(credentialKind(inv.secret), 'invite')
    t.equal(credentialKind(` ${cndpub}\n`), 'pubkey')
    t.equal(credentialKind(pem), 'pubkey', 'a PEM public key')
    t.equal(
      credentialKind('-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----\n'),
      'pubkey',
      'a PEM certificate'
    )
    t.equal(credentialKind('-----BEGIN PRIVATE KEY-----\nAA\n'), undefined, 'a private key is neither')
    t.equal(credentialKind('cndinv1'), undefined, 'no dot: neither')
    t.equal(credentialKind('not-a-secret'), undefined)

    t.same(
      addCredentials(inv.secret, undefined),
      { secret: inv.secret, pubkey: undefined },
      'a secret: the invite form'
    )
    t.same(addCredentials(cndpub, undefined), { pubkey: cndpub }, 'a public key as the argument: the manual form')
    t.same(addCredentials(pem, undefined), { pubkey: pem }, 'a PEM public key as the argument')
    t.same(addCredentials(undefined, pem), { pubkey: pem }, '--pubkey as before')
    t.same(
      addCredentials(inv.secret, pem),
      { secret: inv.secret, pubkey: pem },
      'a secret and --pubkey: passed on (addPeer refuses both)'
    )
    t.throws(() => addCredentials(cndpub, pem), { code: 'CND_PEER_CREDENTIAL_INVALID', message: /two public keys/ })
    const garbled = `x${inv.secret}`
    t.throws(
      () => addCredentials(garbled, undefined),
      { code: 'CND_PEER_CREDENTIAL_INVALID', message: /neither an invite secret .* nor a public key/ },
      'neither: refused, naming both forms'
    )
    try {
      addCredentials(garbled, undefined)
    } catch (err) {
      t.notMatch((err as Error).message, inv.secret.slice(8, 30), 'the refused string is not echoed')
    }
  }
)

t.test('records and add-peer bodies: every field checked, with its path', async t => {
  const k = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    .publicKey.export({ type: 'spki', format: 'pem' })
    .toString()
  const good = {
    peer_id: 'c',
    peer_hostname: '192.0.2.3',
    authentication: [{ public_key: k }, { token: 'a-static-token-0123456789' }]
  }
  const req = parseAddPeer(good)
  t.same([req.record.id, req.record.policy, req.gossip, req.defaultAuthorizations], ['c', 'peers', true, true])
  t.equal(req.record.token_sha256!.length, 1, 'a token is kept as its digest only')
  const bad: Array<[string, unknown, RegExp]> = [
    ['unknown field', { ...good, admin: true }, /\/admin: unknown field/],
    ['no credential', { ...good, authentication: [] }, /\/authentication/],
    ['a path as peer id', { ...good, peer_id: '../x' }, /\/id: expected a peer id/],
    ['a URL as hostname', { ...good, peer_hostname: 'https://x' }, /\/hostname/],
    ['a short token', { ...good, authentication: [{ token: 'short' }] }, /\/authentication\/0/],
    ['a bad authorization name', { ...good, authorizations: { 'a b': true } }, /\/authorizations/],
    [
      'a route certificate without a route',
      { ...good, route_cert: '-----BEGIN CERTIFICATE-----\nAA\n-----END CERTIFICATE-----' },
      /\/route_cert: not a PEM certificate/
    ],
    ['gossip not a boolean', { ...good, gossip: 'yes' }, /\/gossip/]
  ]
  for (const [name, body, message] of bad)
    t.throws(() => parseAddPeer(body), { code: 'CND_PEER_INPUT_INVALID', message }, name)
  t.equal(parseAddPeer({ ...good, authorizations: { 'peer-list-read': true } }).defaultAuthorizations, false)
  t.throws(() => checkRecord({ id: 'x', hostname: 'x', authorizations: {} }), { message: /public_key: missing/ })
})
