import { ConductorError } from './base.js'

// Errors of the cluster (issue 17: peers, invites, the NATS server): one class per catalogue
// code (exit code and HTTP status are the catalogue's), a message naming what to fix. No
// message ever carries a secret (an invite secret, a private key, a NATS password): callers
// pass names and paths only.

/** This host has no peer identity yet (no key pair, no cluster state): `conductor system install` makes it. */
export class PeerIdentityMissing extends ConductorError {
  override readonly code = 'CND_PEER_IDENTITY_MISSING'
}
/** A file of the cluster state (cluster.json) cannot be read or is not what Conductor wrote. */
export class ClusterStateInvalid extends ConductorError {
  override readonly code = 'CND_CLUSTER_STATE_INVALID'
}
/** Another process holds the cluster state lock for too long. */
export class ClusterLocked extends ConductorError {
  override readonly code = 'CND_CLUSTER_LOCKED'
}
/** The local NATS server does not answer (or JetStream is off): membership cannot be read or changed. */
export class NatsUnavailable extends ConductorError {
  override readonly code = 'CND_NATS_UNAVAILABLE'
}
/** An invite secret or a public key given on the command line is not one (or is the other kind). */
export class PeerCredentialInvalid extends ConductorError {
  override readonly code = 'CND_PEER_CREDENTIAL_INVALID'
}
/** The invite is past its expiry. */
export class PeerInviteExpired extends ConductorError {
  override readonly code = 'CND_PEER_INVITE_EXPIRED'
}
/** The invite was used already (invites are single-use). */
export class PeerInviteUsed extends ConductorError {
  override readonly code = 'CND_PEER_INVITE_USED'
}
/** An invite tried more than joining (adding another peer, other authorizations): that needs peer-list-write. */
export class PeerInviteScope extends ConductorError {
  override readonly code = 'CND_PEER_INVITE_SCOPE'
}
/** A peer id or hostname that does not match what was signed, or what the host really is. */
export class PeerMismatch extends ConductorError {
  override readonly code = 'CND_PEER_MISMATCH'
}
/** A peer id or hostname already taken by another key, or two hosts already in different clusters. */
export class PeerConflict extends ConductorError {
  override readonly code = 'CND_PEER_CONFLICT'
}
/** No peer with that id. */
export class PeerNotFound extends ConductorError {
  override readonly code = 'CND_PEER_NOT_FOUND'
}
/** The remote host refused the call (401/403 or a refusal code of its built-in function). */
export class PeerRefused extends ConductorError {
  override readonly code = 'CND_PEER_REFUSED'
  constructor(
    message: string,
    readonly remoteCode?: string,
    options?: ErrorOptions
  ) {
    super(message, undefined, undefined, options)
  }
}
/** The remote host cannot be reached (DNS, connection refused, no route, timeout). */
export class PeerUnreachable extends ConductorError {
  override readonly code = 'CND_PEER_UNREACHABLE'
}
/** TLS with the remote host failed: its certificate does not verify (no --ca-file for a private CA?). */
export class PeerTlsFailed extends ConductorError {
  override readonly code = 'CND_PEER_TLS'
}
/** A body sent to a built-in function is not what it accepts. */
export class PeerInputInvalid extends ConductorError {
  override readonly code = 'CND_PEER_INPUT_INVALID'
}
