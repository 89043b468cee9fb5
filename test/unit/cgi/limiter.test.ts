import t from 'tap'
import { Limiter } from '../../../cgi/limiter.js'

t.test('slots taken at once, then a bounded FIFO queue', async t => {
  const l = new Limiter(2, 1)
  const a = l.tryAcquire()
  const b = l.tryAcquire()
  t.type(a, 'function', 'first slot free at once')
  t.type(b, 'function', 'second slot free at once')
  t.equal(l.tryAcquire(), undefined, 'no third slot without queueing')
  const order: string[] = []
  const queued = l.enqueue().slot.then(release => {
    order.push('queued')
    return release
  })
  await t.rejects(l.enqueue().slot, { code: 'CND_CGI_BUSY' }, 'past the queue: busy at once')
  t.same(l.stats, { active: 2, queued: 1 })
  a!()
  a!()
  const c = await queued
  t.same(order, ['queued'], 'the released slot went to the waiter')
  t.same(l.stats, { active: 2, queued: 0 }, 'releasing twice counts once; the slot passed on, active unchanged')
  b!()
  c()
  t.same(l.stats, { active: 0, queued: 0 })
})

t.test('a queued request whose client went away leaves the queue; close rejects waiters', async t => {
  const l = new Limiter(1, 5)
  const hold = l.tryAcquire()!
  const queued = l.enqueue()
  queued.cancel()
  await t.rejects(queued.slot, { code: 'CND_CGI_CLOSED' })
  t.same(l.stats, { active: 1, queued: 0 })
  const waiting = l.enqueue().slot
  l.close()
  await t.rejects(waiting, { code: 'CND_CGI_CLOSED' })
  t.equal(l.tryAcquire(), undefined, 'no slot once closed')
  hold()
})
