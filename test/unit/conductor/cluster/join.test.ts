import t from 'tap'
import { applyJoin, chooseCluster, clusterView } from '../../../../conductor/cluster/join.js'
import { newState } from '../../../../conductor/cluster/identity.js'
import type { PeerRecord } from '../../../../conductor/cluster/records.js'

// Which cluster two hosts end up in (conductor/cluster/join.ts): both sides decide alone on the
// same two views and must agree; a host that takes another name restarts with a reset store.

const rec = (id: string): PeerRecord => ({
  id,
  hostname: `${id}.example`,
  route: `${id}.example:6222`,
  authorizations: {},
  policy: 'peers',
  token_sha256: ['0'.repeat(64)]
})

t.test('the rule, both ways round', async t => {
  const cases: Array<[string, { name: string; lone: boolean }, { name: string; lone: boolean }, string | undefined]> = [
    ['a lone host joins one with members', { name: 'z', lone: true }, { name: 'y', lone: false }, 'y'],
    ['two lone hosts: the name that sorts first', { name: 'm', lone: true }, { name: 'k', lone: true }, 'k'],
    ['two hosts of one cluster', { name: 'q', lone: false }, { name: 'q', lone: false }, 'q'],
    ['two clusters with members each: refused', { name: 'p', lone: false }, { name: 'q', lone: false }, undefined]
  ]
  for (const [name, x, y, want] of cases) {
    t.equal(chooseCluster(x, y), want, name)
    t.equal(chooseCluster(y, x), want, `${name} (the other side agrees)`)
  }
})

t.test('applied to a state: adopt, form, or just add', async t => {
  const lone = { ...newState(), cluster_name: 'b-cluster' }
  const out = applyJoin(lone, 'b', rec('b'), rec('a'), {
    name: 'a-cluster',
    lone: false,
    clustered: true,
    members: [rec('a'), rec('c')]
  })
  t.same(out, { adopted: true, formed: false, write: [] })
  t.same(
    [lone.cluster_name, lone.clustered, lone.seeds.map(r => r.id)],
    ['a-cluster', true, ['a', 'c']],
    "joins a's cluster, seeds its members"
  )

  const first = { ...newState(), cluster_name: 'a-cluster' }
  t.same(
    applyJoin(first, 'a', rec('a'), rec('b'), { name: 'z-cluster', lone: true, clustered: false, members: [rec('b')] }),
    { adopted: false, formed: true, write: [] },
    'two lone hosts: the one keeping its name goes clustered'
  )
  t.same([first.clustered, first.seeds.map(r => r.id)], [true, ['b']])

  const member = { ...newState(), cluster_name: 'a-cluster', clustered: true, members: [rec('a'), rec('b')] }
  t.same(
    applyJoin(member, 'a', rec('a'), rec('c'), {
      name: 'c-cluster',
      lone: true,
      clustered: false,
      members: [rec('c')]
    }),
    { adopted: false, formed: false, write: [rec('c')] },
    'a cluster with members writes the newcomer into its bucket'
  )

  const other = { ...newState(), cluster_name: 'x', clustered: true, members: [rec('a'), rec('b')] }
  t.throws(
    () =>
      applyJoin(other, 'a', rec('a'), rec('c'), {
        name: 'y',
        lone: false,
        clustered: true,
        members: [rec('c'), rec('d')]
      }),
    { code: 'CND_PEER_CONFLICT' }
  )
  t.same(clusterView(other, 'a', rec('a')).lone, false)
})
