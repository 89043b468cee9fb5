import type { Command } from 'commander'
import { ConductorError, UsageError } from '../../../errors/index.js'
import {
  addCredentials,
  addPeer,
  clusterContext,
  createInvite,
  daemonState,
  listPeers,
  peerPubkey,
  removePeer,
  runBuiltin,
  runFleetDaemon,
  waitForState,
  type BuiltinName,
  type ClusterCtx
} from '../../cluster/index.js'
import { renderJson, renderTable } from '../../output.js'
import type { CtxFactory } from './types.js'
import { runServiceFunction } from './fleet-sync.js'
import { fleetTasks } from './fleet-schedule.js'
import { SERVICE_BUILTINS, type ServiceBuiltinName } from '../../fleet/index.js'
import { readBody, readSecretLine } from '../stdin.js'

// `conductor peer ...` (the seed spells the group `peers` too: both work), and the internals the
// units and the built-in service run: `conductor _ fleet-daemon`, `conductor _ builtin NAME`.

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** "1h", "30m", "45s", "2d", or seconds. */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)?$/.exec(v.trim())
  if (m === null) throw new UsageError(`--ttl ${v}: expected a duration such as 90s, 30m, 1h or 2d`)
  return Number(m[1]) * ({ s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[m[2] ?? 's']!
}

const ago = (iso: string | null, now: number): string => {
  if (iso === null) return 'never'
  const s = Math.max(0, (now - Date.parse(iso)) / 1000)
  return s < 60 ? `${s.toFixed(1)}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : new Date(iso).toISOString()
}

export function registerPeerCommands(program: Command, internal: Command, makeCtx: CtxFactory): void {
  const peer = program
    .command('peer')
    .alias('peers')
    .description("Peers of this host's cluster: invite, add, remove, list (membership replicated on NATS JetStream)")
  const cctx = async (cmd: Command): Promise<ClusterCtx> => await clusterContext(makeCtx(cmd))

  peer
    .command('ls')
    .alias('list')
    .description('List the peers: id, hostname, NATS route address, reachable now, last heartbeat seen, authorizations')
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { json?: boolean }) {
      const cc = await cctx(this)
      const ctx = makeCtx(this)
      const peers = listPeers(cc)
      const d = daemonState(cc)
      const notes: string[] = []
      if (!d.running)
        notes.push(
          'the fleet daemon is not running (no status for 5 s): reachability unknown; start conductor-sync.service'
        )
      else if (d.nats?.ok === false)
        notes.push(
          `nats: ${d.nats.error ?? 'not connected'} (the list is the last one seen; the gateway keeps serving it)`
        )
      if (opts.json === true) {
        ctx.io.out(renderJson({ peers, daemon_running: d.running, nats: d.nats ?? null }))
      } else {
        const now = cc.now()
        ctx.io.out(
          renderTable(
            ['ID', 'HOSTNAME', 'ADDRESS', 'REACHABLE', 'LAST SEEN', 'AUTHORIZATIONS'],
            peers.map(p => [
              p.id + (p.self ? ' (this host)' : '') + (p.replicated ? '' : ' (local only)'),
              p.hostname,
              p.address ?? '-',
              p.reachable === null ? '?' : p.reachable ? 'yes' : 'no',
              ago(p.last_seen, now),
              p.authorizations.join(',')
            ])
          )
        )
      }
      for (const n of notes) ctx.io.err(`conductor: ${n}\n`)
    })

  peer
    .command('invite')
    .description(
      'Create a single-use invite (its public key goes into the peers policy, allowed only to join) and print its secret, once'
    )
    .option('--ttl <duration>', 'how long the invite is valid: 90s, 30m, 1h, 2d (at most 7d)', '1h')
    .option('--json', 'print JSON')
    .action(async function (this: Command, opts: { ttl: string; json?: boolean }) {
      const cc = await cctx(this)
      const io = makeCtx(this).io
      const inv = await createInvite(cc, parseDuration(opts.ttl))
      if (opts.json === true)
        io.out(
          renderJson({ id: inv.id, secret: inv.secret, expires_at: inv.expires_at, hostname: cc.identity.hostname })
        )
      else {
        io.err(
          `invite ${inv.id}, valid until ${inv.expires_at}, once. On the host to add, run (the secret is shown only now):\n` +
            `  conductor peer add ${cc.identity.hostname} SECRET [--ca-file CADDY_ROOT_CA]\n`
        )
        io.out(`${inv.secret}\n`)
      }
    })

  peer
    .command('add')
    .description(
      'Add a peer: `peer add HOSTNAME SECRET` with an invite made there (both join one cluster), or ' +
        '`peer add HOSTNAME PUBKEY` (or --pubkey PUBKEY) with its `peer pubkey` (each side adds the other)'
    )
    .argument('<hostname>', "the peer's host name (https://HOSTNAME through its Caddy)")
    .argument(
      '[secret-or-pubkey]',
      'the invite secret printed by `conductor peer invite` on HOSTNAME (cndinv1...), or its public key ' +
        '(cndpub1... from `conductor peer pubkey`, or PEM): told apart by format; - reads it from stdin'
    )
    .option(
      '--pubkey <pubkey>',
      'its public key instead of an invite: the line `conductor peer pubkey` prints there, or a PEM public key'
    )
    .option('--id <id>', 'its peer id (only for a plain PEM public key: a cndpub1 key names its peer)')
    .option(
      '--ca-file <file>',
      'a CA certificate to trust for HOSTNAME besides the system ones (Caddy tls internal: its root.crt)'
    )
    .option(
      '--authorization <name>',
      'grant this authorization (repeatable; default peer-list-read, peer-list-write, service-write)',
      collect
    )
    .option('--no-gossip', 'with a public key only: trust it on this host only, not replicated to the cluster')
    .option('--no-wait', "do not wait for this host's daemon to apply the change")
    .option('--json', 'print JSON')
    .action(async function (
      this: Command,
      hostname: string,
      secretOrKey: string | undefined,
      opts: {
        pubkey?: string
        id?: string
        caFile?: string
        authorization?: string[]
        gossip: boolean
        wait: boolean
        json?: boolean
      }
    ) {
      // The second argument: an invite secret, or a public key (the seed's `peers add HOSTNAME PUBKEY`);
      // `-`: read from stdin, so the secret is not seen in the process list or kept in the shell history.
      const given = secretOrKey === '-' ? await readSecretLine() : secretOrKey
      const cred = addCredentials(given, opts.pubkey)
      const secret = cred.secret
      const cc = await cctx(this)
      const io = makeCtx(this).io
      if (secret !== undefined && opts.authorization !== undefined) {
        throw new UsageError(
          '--authorization applies to a public key only: an invite joins with the default authorizations'
        )
      }
      if (secret !== undefined && !opts.gossip)
        throw new UsageError('--no-gossip applies to a public key only: an invite joins the cluster')
      const r = await addPeer(cc, {
        hostname,
        secret,
        pubkey: cred.pubkey,
        id: opts.id,
        caFile: opts.caFile,
        authorizations: opts.authorization,
        gossip: opts.gossip
      })
      const applied =
        opts.wait && r.outcome !== 'local'
          ? await waitForState(cc, members => members.some(m => m.id === r.peer.id))
          : undefined
      if (opts.json === true)
        io.out(
          renderJson({
            peer: r.peer.id,
            hostname: r.peer.hostname,
            outcome: r.outcome,
            remote: r.remote ?? null,
            cluster: r.cluster,
            applied: applied ?? null
          })
        )
      else {
        const what = {
          joined: `this host joins cluster ${r.cluster} (its NATS server restarts once, with an empty store)`,
          formed: `cluster ${r.cluster} formed (this host's NATS server restarts once, with an empty store)`,
          added: `replicated to the cluster ${r.cluster}`,
          local: 'on this host only (not replicated)'
        }[r.outcome]
        io.out(`added peer ${r.peer.id} (${r.peer.hostname}): ${what}\n`)
        if (applied === false)
          io.err(
            'conductor: the fleet daemon has not applied it yet (conductor peer ls; is conductor-sync.service running?)\n'
          )
      }
    })

  peer
    .command('remove')
    .alias('rm')
    .description(
      'Remove a peer from the cluster: every host drops its policy entry and its NATS routes, and its server leaves the JetStream meta group'
    )
    .argument('<id>', 'peer id (conductor peer ls)')
    .option('--no-wait', "do not wait for this host's daemon to apply the change")
    .option('--json', 'print JSON')
    .action(async function (this: Command, id: string, opts: { wait: boolean; json?: boolean }) {
      const cc = await cctx(this)
      const io = makeCtx(this).io
      const r = await removePeer(cc, id)
      const applied =
        opts.wait && r.replicated ? await waitForState(cc, members => !members.some(m => m.id === id)) : undefined
      if (opts.json === true) io.out(renderJson({ removed: id, replicated: r.replicated, applied: applied ?? null }))
      else {
        io.out(`removed peer ${id} (${r.removed.hostname})${r.replicated ? ' from the cluster' : ' from this host'}\n`)
        if (applied === false)
          io.err('conductor: the fleet daemon has not applied it yet (is conductor-sync.service running?)\n')
      }
    })

  peer
    .command('pubkey')
    .description("Print this host's public key (or a peer's): the line `conductor peer add HOSTNAME --pubkey` takes")
    .argument('[hostname]', "a peer's hostname or id (default: this host)")
    .option('--json', 'print JSON (also the PEM public key)')
    .action(async function (this: Command, hostname: string | undefined, opts: { json?: boolean }) {
      const cc = await cctx(this)
      const io = makeCtx(this).io
      const k = peerPubkey(cc, hostname)
      io.out(opts.json === true ? renderJson(k) : `${k.pubkey}\n`)
    })

  internal
    .command('fleet-daemon')
    .description(
      'The fleet daemon (conductor-sync.service runs it): peers and NATS routes from the member list, heartbeats, ' +
        'service sync'
    )
    .action(async function (this: Command) {
      // Under journald (JOURNAL_STREAM set) lines get their time there; elsewhere they carry it.
      const stamp = process.env.JOURNAL_STREAM === undefined
      const log = (msg: string): void => {
        process.stdout.write(`${stamp ? new Date().toISOString() + ' ' : ''}${msg}\n`)
      }
      const ctx = makeCtx(this)
      const cc = await clusterContext(ctx, log)
      const abort = new AbortController()
      for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => abort.abort())
      await runFleetDaemon(cc, { signal: abort.signal, tasks: await fleetTasks(ctx, cc, log) })
    })

  internal
    .command('builtin')
    .description('A built-in function as a CGI program (the built-in service conductor-peers runs it)')
    .argument(
      '<name>',
      'add-peer | remove-peer | list-peers | identity | write-service | enable | disable | start | stop'
    )
    .action(async function (this: Command, name: string) {
      const ctx = makeCtx(this)
      const log = (msg: string): void => {
        process.stderr.write(`${name}: ${msg}\n`)
      }
      if ((SERVICE_BUILTINS as readonly string[]).includes(name)) {
        await runServiceFunction(ctx, name as ServiceBuiltinName, log)
        return
      }
      if (!['add-peer', 'remove-peer', 'list-peers', 'identity'].includes(name))
        throw new UsageError(`no built-in function "${name}"`)
      const body = (await readBody(Number(ctx.env.CONTENT_LENGTH ?? '0'))).toString('utf8')
      let answer: Awaited<ReturnType<typeof runBuiltin>>
      try {
        const cc = await clusterContext(ctx, log)
        answer = await runBuiltin(cc, name as BuiltinName, {
          method: ctx.env.REQUEST_METHOD ?? 'GET',
          query: new URLSearchParams(ctx.env.QUERY_STRING ?? ''),
          body,
          env: ctx.env
        })
      } catch (err) {
        // No identity yet, a damaged state: the catalogue's status; anything else is logged, not sent.
        if (err instanceof ConductorError)
          answer = { status: err.httpStatus, body: { error: err.code, message: err.message } }
        else {
          log((err as Error).stack ?? String(err))
          answer = { status: 500, body: { error: 'CND_INTERNAL', message: 'internal error (see the gateway log)' } }
        }
      }
      const text = JSON.stringify(answer.body) + '\n'
      process.stdout.write(
        `Status: ${answer.status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`
      )
    })
}
