import t from 'tap'
import path from 'node:path'
import {
  installServiceVersion,
  packServiceDir,
  unpackServiceArchive,
  versionsDir
} from '../../../../conductor/archive/index.js'
import type { ClusterCtx } from '../../../../conductor/cluster/index.js'
import { runServiceBuiltin, type ServiceBuiltinDeps } from '../../../../conductor/fleet/index.js'
import { readPlacement } from '../../../../conductor/state/index.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// The seed's service functions (issue 18 item 3) as the gateway runs them: refusals before any
// work (no service-write, not a POST, no or bad service name, gossip=false, a service not
// uploaded here), and enable/disable/start/stop of an uploaded one on this host. write_service
// itself stores through NATS: the e2e test covers it.

t.test('service functions', async t => {
  const root = tempDir(t)
  const servicesDir = path.join(root, 'services')
  const libDir = path.join(root, 'lib')
  const calls: string[] = []
  const deps: ServiceBuiltinDeps = {
    cc: { identity: { id: 'c' }, log: () => {} } as unknown as ClusterCtx,
    servicesDir,
    libDir,
    reconcile: async names => {
      calls.push(`reconcile ${names.join()}`)
      return true
    },
    stop: async name => {
      calls.push(`stop ${name}`)
      return true
    }
  }
  const writer = { HTTP_X_CONDUCTOR_AUTHORIZATIONS: 'peer-list-read,service-write', HTTP_X_CONDUCTOR_PEER_ID: 'a' }
  const call = async (
    name: 'write-service' | 'enable' | 'disable' | 'start' | 'stop',
    query: string,
    env: NodeJS.ProcessEnv = writer,
    method = 'POST'
  ): Promise<{ status: number; body: unknown }> =>
    await runServiceBuiltin(deps, name, { method, query: new URLSearchParams(query), body: Buffer.alloc(0), env })

  t.match(
    await call('write-service', 'service=web', {
      HTTP_X_CONDUCTOR_AUTHORIZATIONS: 'peer-list-read',
      HTTP_X_CONDUCTOR_PEER_ID: 'ci'
    }),
    { status: 403, body: { error: 'CND_FLEET_WRITE_DENIED', message: /ci lacks service-write/ } },
    'a writer without service-write'
  )
  t.match(await call('enable', 'service=web', {}), { status: 403 }, 'no authorizations at all')
  t.match(
    await call('start', 'service=web', writer, 'GET'),
    { status: 400, body: { error: 'CND_FLEET_INPUT_INVALID_BODY' } },
    'a GET'
  )
  t.match(await call('start', ''), { status: 400, body: { message: /"service" is missing/ } }, 'no service')
  t.match(
    await call('start', 'service=../etc'),
    { status: 400, body: { error: 'CND_FLEET_NAME_INVALID' } },
    'not a plain name'
  )
  t.match(
    await call('write-service', 'service=web&gossip=false'),
    { status: 400, body: { message: /gossip=false/ } },
    'gossip=false'
  )
  t.match(
    await call('write-service', 'service=web'),
    { status: 400, body: { message: /body .* is empty/ } },
    'an empty body'
  )
  t.match(
    await call('enable', 'service=web'),
    { status: 404, body: { error: 'CND_FLEET_SERVICE_UNKNOWN' } },
    'not uploaded here'
  )
  t.same(calls, [], 'nothing reconciled or stopped by any refusal')

  const src = path.join(tempDir(t), 'web')
  writeTree(src, { 'conductor-service.json': {} })
  const packed = await packServiceDir(src)
  const u = await unpackServiceArchive(packed.archive, {
    name: 'web',
    expectedDigest: packed.digest,
    into: versionsDir(servicesDir)
  })
  await installServiceVersion(servicesDir, 'web', u.dir, '1')
  t.match(await call('disable', 'service=web'), { status: 200, body: { service: 'web', disabled: true } })
  t.same(readPlacement(libDir)?.overrides, { web: 'disabled' }, 'disable: the override written')
  t.match(await call('enable', 'service=web'), { status: 200, body: { enabled: true } })
  t.same(readPlacement(libDir)?.overrides, { web: 'enabled' }, 'enable: the override written')
  t.match(await call('start', 'service=web'), { status: 200, body: { started: true } })
  t.match(await call('stop', 'service=web'), { status: 200, body: { stopped: true } })
  t.same(
    calls,
    ['reconcile web', 'reconcile web', 'reconcile web', 'stop web'],
    'each reconciled or stopped that service only'
  )
})
