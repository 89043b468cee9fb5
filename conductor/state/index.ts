// Public surface of conductor/state/.
export {
  type DeploymentState,
  type StoredDeployments,
  deploymentDir,
  readDeployment,
  readDeployments,
  removeDeploymentDir,
  replicaOf,
  writeDeployment
} from './deployments.js'
export { acquireDeployLock } from './locks.js'
export { type PidLock, acquirePidLock } from './pid-lock.js'
export { readOr, writeAtomic } from './atomic.js'
export {
  type PlacementFile,
  type PlacementSource,
  type ServicePlacement,
  placedElsewhere,
  placementFile,
  placementLockFile,
  readPlacement,
  setServicePlacement,
  updatePlacement,
  writePlacementFile
} from './placement.js'
