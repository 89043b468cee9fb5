import t from 'tap'
import {
  hasPodWork,
  planSuggestsPods,
  podListingDue,
  readPodListing,
  recordPodListing
} from '../../../../conductor/reconcile/pod-listing.js'
import type { Action, Observed } from '../../../../conductor/reconcile/plan.js'
import { tempDir } from '../../../harness/tmp.js'

// When a reload asks Podman for its pods (issue 15 item 4: a no-op reload must not pay for the
// listing): the pure rules, and the record of the last listing.

const MIN = 60_000

t.test('a listing is due with no record, after pod work, after the interval, or a clock set back', async t => {
  t.ok(podListingDue(undefined, 1000, 5 * MIN), 'never listed (since boot: the record is under /run)')
  t.notOk(podListingDue({ at: 0, pending: false }, 4 * MIN, 5 * MIN), 'listed 4 minutes ago, nothing found')
  t.ok(podListingDue({ at: 0, pending: true }, 1000, 5 * MIN), 'the last listing found pod work')
  t.ok(podListingDue({ at: 0, pending: false }, 5 * MIN, 5 * MIN), 'the interval has passed')
  t.ok(podListingDue({ at: 10 * MIN, pending: false }, 5 * MIN, 5 * MIN), 'the record is in the future')
})

t.test('a plan with work suggests pods; only pod rules make pod work', async t => {
  const start: Action = { kind: 'start-deployment', service: 'web', id: 'web-a', reason: 'not active' }
  t.notOk(planSuggestsPods([]), 'a converged host')
  t.ok(planSuggestsPods([start]))
  t.notOk(hasPodWork([start, { kind: 'start-service', service: 'web' }]))
  t.ok(hasPodWork([{ ...start, restart: true }]), 'a deployment whose pod is gone')
  t.ok(hasPodWork([{ kind: 'remove-pod', pod: 'web-x', id: 'web-x', reason: 'no deployment record' }]))
})

t.test('the record: written only from a listing, read back, anything else read as none', async t => {
  const run = tempDir(t)
  const observed = (pods?: Observed['pods']): Observed => ({
    records: [],
    strays: [],
    activeUnits: new Set(),
    snippets: new Map(),
    pods
  })
  recordPodListing(run, observed(undefined), [], 1000)
  t.equal(readPodListing(run), undefined, 'Podman not asked (or could not be): nothing recorded')
  recordPodListing(run, observed([]), [{ kind: 'remove-pod', pod: 'p', id: 'p', reason: 'r' }], 2000)
  t.same(readPodListing(run), { at: 2000, pending: true })
  recordPodListing(run, observed([]), [], 3000)
  t.same(readPodListing(run), { at: 3000, pending: false })
})
