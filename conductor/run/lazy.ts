// What this folder's index.ts offers that loads a heavy module only when called: an index.ts only
// re-exports (scripts/bundle-barrels.mjs and test/unit/architecture.test.ts), so these live here.
// Interactive commands load node-pty and ws: only `run -it` pays for them.
/** `conductor action run -it` on this machine, under a local pty (interactive-local.ts). */
export async function runInteractiveLocal(inv: import('./command.js').CommandInvocation): Promise<number> {
  return await (await import('./interactive-local.js')).runInteractiveLocal(inv)
}
/** `conductor action run -it --remote`: the WebSocket session (interactive-remote.ts). */
export async function runInteractiveRemote(opts: import('./remote.js').RemoteRun): Promise<number> {
  return await (await import('./interactive-remote.js')).runInteractiveRemote(opts)
}
