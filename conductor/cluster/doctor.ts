import { NATS_UNIT } from '../model/index.js'
import type { ClusterCtx } from './context.js'
import { effectiveMembers } from './converge.js'
import { connectLocal, jetStreamReady } from './nats.js'
import { readState } from './state.js'
import { liveness, readStatus } from './status.js'

// `conductor doctor`'s NATS check (issue 17 item 7): the server runs, JetStream is on, and a
// route is up to every member that has one; plus the fleet daemon writing its status. Each
// failure comes with its fix.

export interface NatsCheckResult {
  name: string
  ok: boolean
  detail: string
  fix?: string
}

/** Each NATS step's bound: a busy host answers in seconds; a stopped server refuses at once. */
const STEP_MS = 5000

export async function checkNats(cc: ClusterCtx, systemctl: string): Promise<NatsCheckResult> {
  const name = 'nats'
  const s = readState(cc.identity.paths)
  const port = cc.identity.clientPort
  const start = `${systemctl} start ${NATS_UNIT} (journalctl${systemctl.includes('--user') ? ' --user' : ''} -u ${NATS_UNIT} says why it stopped)`
  let nc: Awaited<ReturnType<typeof connectLocal>>
  try {
    nc = await connectLocal({ clientPort: port, auth: s.nats_auth }, { system: true, timeoutMs: STEP_MS })
  } catch (err) {
    return {
      name,
      ok: false,
      detail: (err as Error).message.split(':')[0] + `: 127.0.0.1:${port} does not answer`,
      fix: start
    }
  }
  try {
    const app = await connectLocal({ clientPort: port, auth: s.nats_auth }, { timeoutMs: STEP_MS })
    try {
      await jetStreamReady(app, STEP_MS)
    } catch (err) {
      return {
        name,
        ok: false,
        detail: `running on 127.0.0.1:${port}, but JetStream does not answer (${(err as Error).message})`,
        fix: s.clustered
          ? 'a clustered JetStream needs a majority of its servers: start the NATS server of the peers that are down ' +
            '(conductor peer ls shows which), or remove the peers that are gone (conductor peer remove ID)'
          : `check ${cc.identity.paths.natsConfig} has a jetstream block, then ${systemctl} restart ${NATS_UNIT}`
      }
    } finally {
      await app.close().catch(() => {})
    }
    const want = effectiveMembers(cc, s).filter(r => r.id !== cc.identity.id && r.route_cert !== undefined)
    const seen = new Set<string>()
    for await (const m of await nc.requestMany('$SYS.REQ.SERVER.PING', '', { strategy: 'timer', maxWait: 1000 })) {
      try {
        seen.add(String((JSON.parse(m.string()) as { server?: { name?: string } }).server?.name))
      } catch {
        /* not a ping answer */
      }
    }
    const missing = want.filter(r => !seen.has(r.id))
    const mode = s.clustered ? `cluster ${s.cluster_name}` : 'standalone (a lone host)'
    const daemon = liveness(readStatus(cc.identity.paths.status), cc.identity.id, cc.now()).daemon
    if (missing.length > 0) {
      return {
        name,
        ok: false,
        detail: `running, JetStream on, ${mode}; no route to ${missing.map(r => `${r.id} (${r.route ?? '?'})`).join(', ')}`,
        fix:
          `start those hosts' ${NATS_UNIT}, check their route port is reachable from here (TLS with pinned keys: ` +
          `their route certificates must be in ${cc.identity.paths.routeCa}, which the fleet daemon writes` +
          `${daemon ? '' : ', and it is not running here: ' + systemctl + ' start conductor-sync.service'}); ` +
          'or remove peers that are gone: conductor peer remove ID'
      }
    }
    if (!daemon) {
      return {
        name,
        ok: false,
        detail: `running, JetStream on, ${mode}; but the fleet daemon is not running (no status for 5 s)`,
        fix: `${systemctl} start conductor-sync.service`
      }
    }
    return {
      name,
      ok: true,
      detail: `running on 127.0.0.1:${port}, JetStream on, ${mode}, routes to ${want.length} peer(s)`
    }
  } finally {
    await nc.close().catch(() => {})
  }
}
