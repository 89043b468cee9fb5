// Public surface of conductor/cluster/ (issue 17: peers, invites, the NATS cluster, the fleet
// daemon). Light on purpose: the NATS client and jose load only inside the functions that use
// them (nats.ts, remote.ts import them on call), so `peer ls` starts without them.
export { type ClusterCtx, clusterContext } from './context.js'
export * as clusterDefaults from './defaults.js'
export { type Identity, ensureIdentity, readIdentity, selfRecord } from './identity.js'
export { installCluster } from './install.js'
export { addCredentials, credentialKind } from './credentials.js'
export { type NatsConfigInput, renderNatsConfig, renderRouteCa } from './nats-config.js'
export { type ClusterPaths, clusterPaths } from './paths.js'
export { MANAGED_MARK, isManagedPolicy, renderPolicies } from './policy.js'
export { type InviteRecord, type PeerRecord, checkRecord, spkiPin } from './records.js'
export { type ClusterState, readState } from './state.js'
export { type PeerListing, daemonState, listPeers } from './list.js'
export {
  type AddOptions,
  type AddResult,
  type InviteResult,
  addPeer,
  createInvite,
  peerPubkey,
  removePeer,
  waitForState
} from './ops.js'
export { type BuiltinName, type CgiAnswer, type CgiRequest, runBuiltin } from './builtin.js'
export { type DaemonEnv, type DaemonOptions, type DaemonTask, runFleetDaemon } from './daemon.js'
export { type NatsCheckResult, checkNats } from './doctor.js'
export { natsPackage } from './nats.js'
export { chooseCluster } from './join.js'
export { type LocalNats, connectLocal, desiredReplicas, jetStreamBusy } from './nats.js'
