import t from 'tap'
import { ReplayCache } from '../../../gateway/replay-cache.js'

t.test('a jti is accepted once until it expires; a full cache fails closed', async t => {
  let now = 1_000_000
  const c = new ReplayCache(2, () => now)
  t.equal(c.claim('a', now + 5000), 'ok')
  t.equal(c.claim('a', now + 5000), 'replayed')
  t.equal(c.claim('b', now + 10_000), 'ok')
  t.equal(c.claim('c', now + 10_000), 'full', 'never forgets an unexpired jti to make room')
  now += 6000
  t.equal(c.claim('c', now + 10_000), 'ok', 'expired entries make room')
  t.equal(c.size, 2)
  t.equal(c.claim('a', now + 5000), 'full', 'a is gone but the cache holds b and c')
  now += 20_000
  t.equal(c.claim('a', now + 5000), 'ok', 'after expiry a token id may come back (its token is expired anyway)')
})
