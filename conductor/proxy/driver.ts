import type { CaddyClient } from '../../caddy/index.js'
import { caddyClient } from './endpoint.js'
import type { Ctx } from '../context.js'
import { deregisterServiceSnippets, registerServiceSnippets, switchServiceSnippets, type SnippetOwnerContext, type SwitchOutcome } from './snippets.js'
import type { Service } from '../model/index.js'
import type { HostConfig, Variables } from '../model/index.js'

// The reconciler's Caddy driver: a deployment's (or service's) proxy snippets are rendered in
// its context and registered through caddy/, with a record so they can always be removed.
// The client is made on first use: hosts whose services have no proxy template never talk to Caddy.

export interface CaddyDriver {
  register: (svc: Service, vars: Variables, cwd: string) => Promise<void>
  deregister: (svc: Service, vars: Variables, cwd: string) => Promise<void>
  /** A deploy's route switch: `to` in, every `from` out, in one Caddy config change. */
  switch: (svc: Service, to: SnippetOwnerContext, from: SnippetOwnerContext[]) => Promise<SwitchOutcome>
  client: () => CaddyClient
}

export function caddyDriver (ctx: Pick<Ctx, 'roots' | 'env' | 'caddyAdmin' | 'templateTimeoutSec'>, host: HostConfig): CaddyDriver {
  let client: CaddyClient | undefined
  const get = (): CaddyClient => (client ??= caddyClient(ctx, host))
  const opts = (cwd: string): Parameters<typeof registerServiceSnippets>[3] => ({ roots: ctx.roots, cwd, timeoutSec: ctx.templateTimeoutSec })
  return {
    client: get,
    register: async (svc, vars, cwd) => { await registerServiceSnippets(svc, vars, get(), opts(cwd)) },
    deregister: async (svc, vars, cwd) => { await deregisterServiceSnippets(svc, vars, get(), opts(cwd)) },
    switch: async (svc, to, from) =>
      await switchServiceSnippets(svc, to, from, get(), { roots: ctx.roots, timeoutSec: ctx.templateTimeoutSec })
  }
}
