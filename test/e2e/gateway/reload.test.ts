import { rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { sha256 } from '../../../policies/index.js'
import { cli, cliProcess, repoRoot } from '../../harness/cli.js'
import { startGatewayProcess } from '../../harness/gateway.js'
import { waitFor } from '../../harness/ports.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

// Issue 13 item 13: a policy file that breaks after the gateway started must not block every
// later SIGHUP reload. The real gateway process: the broken file keeps its last good version
// (named in the log, /healthz, `policy ls` and `doctor`), every other policy and the services
// reload, a policy referring to the broken one uses that last good version, and a deleted
// file is gone.

const A1 = 'token-a1-0123456789abcdef'
const B2 = 'token-b2-0123456789abcdef'
const C1 = 'token-c1-0123456789abcdef'
const C2 = 'token-c2-0123456789abcdef'
const hashed = (token: string): object => ({ token_sha256: sha256(token).toString('hex') })

t.test('a broken policy file keeps its last good version while the rest reloads', async t => {
  const root = tempDir(t)
  const policies = path.join(root, 'etc/conductor/policies')
  writeTree(root, {
    'etc/conductor/policies/a.json': { match: [{ meta: { v: 'a1' }, bearer: [hashed(A1)] }] },
    'etc/conductor/policies/b.json': { match: [{ meta: { v: 'b1' }, policy: 'a' }] },
    'etc/conductor/policies/c.json': { match: [{ meta: { v: 'c1' }, bearer: [hashed(C1)] }] },
    'etc/conductor/services/s1/conductor-service.json': { app_name: 's1' }
  })
  const env = { CONDUCTOR_ROOT: root, HOME: root }
  const { proc, port, output } = await startGatewayProcess(t, { env, logLevel: 'info' })
  const base = `http://127.0.0.1:${port}`
  const auth = async (policy: string, token?: string): Promise<{ status: number; v: string | null }> => {
    const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` }
    const res = await fetch(`${base}/auth?policy=${policy}`, { headers })
    return { status: res.status, v: res.headers.get('x-conductor-v') }
  }
  type Stale = Array<{ name: string; file: string; since: string }>
  const health = async (): Promise<{ services: number; stale_policies: Stale }> =>
    (await (await fetch(`${base}/healthz`)).json()) as never
  // Waits for the reload's outcome line, success or not: what it did is asserted after.
  const outcomes = (): number => output().split(/"msg":"(reloaded|reload failed[^"]*)"/).length
  const reload = async (): Promise<void> => {
    const seen = outcomes()
    proc.kill('SIGHUP')
    await waitFor('the reload logged', () => outcomes() > seen)
  }
  t.same(await auth('a', A1), { status: 200, v: 'a1' })
  t.equal((await health()).services, 1)

  // Break a (bad JSON), and in the same reload change b, c and the services.
  writeFileSync(path.join(policies, 'a.json'), '{ "match": [ { "bearer": [ ')
  writeTree(root, {
    'etc/conductor/policies/b.json': {
      match: [{ any: [{ meta: { v: 'b2' }, bearer: [hashed(B2)] }, { policy: 'a' }] }]
    },
    'etc/conductor/policies/c.json': { match: [{ meta: { v: 'c2' }, bearer: [hashed(C2)] }] },
    'etc/conductor/services/s2/conductor-service.json': { app_name: 's2' }
  })
  await reload()
  t.same(await auth('c', C2), { status: 200, v: 'c2' }, "another policy's change took effect")
  t.equal((await auth('c', C1)).status, 401)
  t.equal((await health()).services, 2, 'the services reloaded')
  t.same(await auth('a', A1), { status: 200, v: 'a1' }, 'the broken policy answers with its last good version')
  t.same(await auth('b', B2), { status: 200, v: 'b2' }, 'the policy referring to it reloaded')
  t.same(await auth('b', A1), { status: 200, v: 'a1' }, '...and reaches the last good version of a')
  const stale = (await health()).stale_policies
  t.same(
    stale.map(s => [s.name, s.file]),
    [['a', path.join(policies, 'a.json')]],
    '/healthz lists it'
  )
  const kept = '"level":50.*policy \\\\"a\\\\" kept at its last good version \\(loaded [^)]+\\) until its file is fixed'
  t.match(output(), new RegExp(kept + ': \\S*a\\.json: line 1 column \\d+: JSON syntax error'), 'the log names it')

  const ls = await cli(['policy', 'ls', '--gateway', `127.0.0.1:${port}`, '--json'], env)
  t.equal(ls.code, 3)
  const listed = JSON.parse(ls.stdout) as { policies: Array<{ name: string }>; gateway_stale: Stale }
  t.same(
    listed.policies.map(p => p.name),
    ['c'],
    'on disk a is broken (b needs it)'
  )
  t.same(
    listed.gateway_stale.map(s => [s.name, s.since]),
    [['a', stale[0]!.since]]
  )
  const lsText = await cli(['policy', 'ls', '--gateway', `127.0.0.1:${port}`], env)
  t.match(lsText.stderr, /a\.json: line 1 column \d+: JSON syntax error/)
  t.match(lsText.stderr, /the running gateway serves policy "a" from the version it loaded \S+ \(\S*a\.json broke/)
  const containersConf = path.join(repoRoot, 'test/fixtures/containers.conf')
  const gateway = `127.0.0.1:${port}`
  const doctor = await cliProcess(['doctor', '--json', '--gateway', gateway], {
    ...env,
    CONTAINERS_CONF: containersConf
  })
  type Check = { name: string; ok: boolean; detail: string; fix?: string }
  const check = (JSON.parse(doctor.stdout) as { checks: Check[] }).checks.find(c => c.name === 'policies')!
  t.equal(check.ok, false)
  t.match(check.detail, /serves policy "a" from its last good version \(loaded [^)]+\) until \S*a\.json is fixed/)
  t.match(check.fix, /then reload the gateway \(SIGHUP\)/)

  // A second reload keeps the same version (loaded at the same time), not the broken file.
  await reload()
  t.same((await health()).stale_policies, stale)
  // Deleted: gone. b refers to it, so b (new and last good alike) cannot load either.
  rmSync(path.join(policies, 'a.json'))
  await reload()
  t.equal((await auth('a', A1)).status, 403, 'a deleted file is gone')
  t.equal((await auth('b', B2)).status, 403, 'b refers to a policy that no longer exists')
  t.same(await auth('c', C2), { status: 200, v: 'c2' })
  t.same((await health()).stale_policies, [])
  t.match(output(), /policy left out: \S*b\.json: \/match\/0\/any\/1\/policy: policy \\"a\\" does not exist/)
  t.notOk(
    [A1, B2, C1, C2].some(token => output().includes(token)),
    'no token in the log'
  )
})
