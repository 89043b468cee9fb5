// Public surface of conductor/run/.
export { type CommandInvocation, deploymentInvocation, runInvocation, serviceInvocation } from './command.js'
export {
  KEY_ALGORITHMS,
  type KeyAlgorithm,
  generateKeyPair,
  normalizeAudiences,
  policyEntry,
  readPublicKey
} from './keys.js'
export { runRemote } from './remote.js'
export { runInteractiveLocal, runInteractiveRemote } from './lazy.js'
