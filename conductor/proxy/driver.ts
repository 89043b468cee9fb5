import type { CaddyClient } from '../../caddy/index.js'
import { caddyClient } from './endpoint.js'
import type { Ctx } from '../context.js'
import type { SnippetRecordStore } from './records.js'
import {
  deregisterServiceSnippets,
  registerServiceSnippets,
  switchServiceSnippets,
  type SnippetContext,
  type SnippetOwnerContext,
  type SwitchOutcome
} from './snippets.js'
import type { HostConfig, Service, Variables } from '../model/index.js'

// The reconciler's Caddy driver: a deployment's (or service's) proxy snippets are rendered in
// its context and registered through caddy/, with a record so they can always be removed.
// `records`: where the caller keeps them (a reload passes those it read once); default the disk.
// The client is made on first use: hosts whose services have no proxy template never talk to Caddy.

export interface CaddyDriver {
  register: (svc: Service, vars: Variables, cwd: string, records?: SnippetRecordStore) => Promise<void>
  deregister: (svc: Service, vars: Variables, cwd: string, records?: SnippetRecordStore) => Promise<void>
  /** A deploy's route switch: `to` (every new replica) in, every `from` out, in one Caddy config change. */
  switch: (
    svc: Service,
    to: SnippetOwnerContext | SnippetOwnerContext[],
    from: SnippetOwnerContext[]
  ) => Promise<SwitchOutcome>
  client: () => CaddyClient
}

export function caddyDriver(
  ctx: Pick<Ctx, 'roots' | 'env' | 'caddyAdmin' | 'templateTimeoutSec'>,
  host: HostConfig
): CaddyDriver {
  let client: CaddyClient | undefined
  const get = (): CaddyClient => (client ??= caddyClient(ctx, host))
  const opts = (cwd: string | undefined, records?: SnippetRecordStore): SnippetContext => ({
    roots: ctx.roots,
    cwd,
    timeoutSec: ctx.templateTimeoutSec,
    records,
    host
  })
  return {
    client: get,
    register: async (svc, vars, cwd, records) => {
      await registerServiceSnippets(svc, vars, get(), opts(cwd, records))
    },
    deregister: async (svc, vars, cwd, records) => {
      await deregisterServiceSnippets(svc, vars, get(), opts(cwd, records))
    },
    switch: async (svc, to, from) => await switchServiceSnippets(svc, to, from, get(), opts(undefined))
  }
}
