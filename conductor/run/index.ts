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

// Interactive commands load node-pty and ws: only `run -it` pays for them.
/** `conductor action run -it` on this machine, under a local pty (interactive-local.ts). */
export async function runInteractiveLocal(inv: import('./command.js').CommandInvocation): Promise<number> {
  return await (await import('./interactive-local.js')).runInteractiveLocal(inv)
}
/** `conductor action run -it --remote`: the WebSocket session (interactive-remote.ts). */
export async function runInteractiveRemote(opts: import('./remote.js').RemoteRun): Promise<number> {
  return await (await import('./interactive-remote.js')).runInteractiveRemote(opts)
}
