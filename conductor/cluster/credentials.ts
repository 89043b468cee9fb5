import { X509Certificate, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto'
import { PeerCredentialInvalid } from '../../errors/index.js'
import { INVITE_SECRET_PREFIX, PUBKEY_PREFIX } from './defaults.js'

// The two strings operators pass between hosts, built so that neither can be taken for the
// other (issue 17): an invite secret `cndinv1.ID.KEY` (an Ed25519 private key: short, printed
// once) and a peer's public key `cndpub1.CERT` (its route certificate, which holds its public
// key, its peer id and hostname). A plain PEM public key is accepted too (a peer without NATS
// routes, e.g. a CI key). Parse errors never echo the string (it may be a secret).

export interface NewInvite {
  id: string
  secret: string
  publicKeyPem: string
}

export function newInvite(): NewInvite {
  const id = randomBytes(8).toString('hex')
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const der = privateKey.export({ type: 'pkcs8', format: 'der' })
  return {
    id,
    secret: `${INVITE_SECRET_PREFIX}${id}.${der.toString('base64url')}`,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString()
  }
}

/**
 * What an operator pasted, by its format alone: an invite secret (`cndinv1.`), a public key
 * (`cndpub1.`, or a PEM public key or certificate), or neither (undefined). `peer add HOSTNAME X`
 * takes either kind as X; the two formats share no prefix, so one is never taken for the other.
 */
export function credentialKind(text: string): 'invite' | 'pubkey' | undefined {
  const s = text.trim()
  if (s.startsWith(INVITE_SECRET_PREFIX)) return 'invite'
  if (s.startsWith(PUBKEY_PREFIX) || /^-----BEGIN (PUBLIC KEY|CERTIFICATE)-----/.test(s)) return 'pubkey'
  return undefined
}

/**
 * `peer add HOSTNAME X [--pubkey K]`: X is an invite secret or, the seed's manual form
 * `peers add HOSTNAME PUBKEY`, a public key, told apart by format; anything else is refused
 * without echoing it (it may be a mangled secret).
 */
export function addCredentials(
  arg: string | undefined,
  pubkeyOption: string | undefined
): { secret?: string | undefined; pubkey?: string | undefined } {
  if (arg === undefined) return { pubkey: pubkeyOption }
  const kind = credentialKind(arg)
  if (kind === 'invite') return { secret: arg, pubkey: pubkeyOption }
  if (kind === 'pubkey') {
    if (pubkeyOption !== undefined) {
      throw new PeerCredentialInvalid(
        'two public keys: give it as the argument after HOSTNAME or as --pubkey, not both'
      )
    }
    return { pubkey: arg }
  }
  throw new PeerCredentialInvalid(
    'the argument after HOSTNAME is neither an invite secret (the "cndinv1...." line of `conductor peer ' +
      'invite` there) nor a public key (the "cndpub1...." line of `conductor peer pubkey` there, or a PEM ' +
      'public key)'
  )
}

export interface InviteSecret {
  id: string
  privateKeyPem: string
}

export function parseInviteSecret(secret: string): InviteSecret {
  const s = secret.trim()
  if (s.startsWith(PUBKEY_PREFIX) || s.includes('BEGIN PUBLIC KEY') || s.includes('BEGIN CERTIFICATE')) {
    throw new PeerCredentialInvalid(
      'this is a public key, not an invite secret: add a peer by its public key with ' +
        '`conductor peer add HOSTNAME PUBKEY`'
    )
  }
  const m = /^cndinv1\.([0-9a-f]{16})\.([A-Za-z0-9_-]{40,200})$/.exec(s)
  if (m === null) {
    throw new PeerCredentialInvalid(
      'not an invite secret (expected the "cndinv1...." line printed by `conductor peer invite` ' +
        'on the host to add)'
    )
  }
  try {
    const key = createPrivateKey({ key: Buffer.from(m[2]!, 'base64url'), format: 'der', type: 'pkcs8' })
    if (key.asymmetricKeyType !== 'ed25519') throw new Error('not ed25519')
    return { id: m[1]!, privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString() }
  } catch {
    throw new PeerCredentialInvalid('the invite secret is damaged (its key does not decode): copy it again, whole')
  }
}

/** `conductor peer pubkey`: this host's route certificate, as one line. */
export function pubkeyToken(routeCertPem: string): string {
  return PUBKEY_PREFIX + new X509Certificate(routeCertPem).raw.toString('base64url')
}

export interface ParsedPubkey {
  public_key: string
  /** With a cndpub1 token: the route certificate, and the id and hostname it was made for. */
  route_cert?: string | undefined
  id?: string | undefined
  hostname?: string | undefined
}

export function parsePubkey(input: string): ParsedPubkey {
  const s = input.trim()
  if (s.startsWith(INVITE_SECRET_PREFIX)) {
    throw new PeerCredentialInvalid(
      'this is an invite secret, not a public key: join with ' +
        '`conductor peer add HOSTNAME SECRET` (without --pubkey); keep it secret'
    )
  }
  if (s.startsWith(PUBKEY_PREFIX)) {
    let cert: X509Certificate
    try {
      cert = new X509Certificate(Buffer.from(s.slice(PUBKEY_PREFIX.length), 'base64url'))
    } catch {
      throw new PeerCredentialInvalid(
        'the public key is damaged (not a cndpub1 certificate): copy the line `conductor peer ' +
          'pubkey` printed again, whole'
      )
    }
    const san = /(?:DNS|IP Address):([^,\s]+)/.exec(cert.subjectAltName ?? '')?.[1]
    return {
      public_key: cert.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      route_cert: cert.toString(),
      id: /^CN=(.+)$/m.exec(cert.subject)?.[1],
      hostname: san
    }
  }
  if (s.includes('BEGIN PUBLIC KEY')) {
    try {
      const key = createPublicKey(s)
      return { public_key: key.export({ type: 'spki', format: 'pem' }).toString() }
    } catch {
      throw new PeerCredentialInvalid('not a PEM public key')
    }
  }
  if (s.includes('PRIVATE KEY'))
    throw new PeerCredentialInvalid('this is a PRIVATE key: never pass it around; give its public key')
  throw new PeerCredentialInvalid(
    'not a public key: expected the "cndpub1...." line of `conductor peer pubkey`, or a PEM ' +
      '"-----BEGIN PUBLIC KEY-----" block'
  )
}
