import t from 'tap'
import { OutputBudget } from '../../../gateway/output-budget.js'

// remote.max_output_bytes: every byte up to the limit is sent, the chunk crossing it is cut,
// and nothing after it.

t.test('chunks within the budget pass whole; the one crossing it is cut; nothing after', async t => {
  const b = new OutputBudget(10)
  t.equal(b.take(Buffer.from('abcd')).toString(), 'abcd')
  t.notOk(b.exceeded)
  t.equal(b.take(Buffer.from('efghij')).toString(), 'efghij', 'exactly the budget: still within it')
  t.notOk(b.exceeded, 'reaching the limit is not exceeding it')
  t.equal(b.take(Buffer.from('k')).length, 0, 'one byte more: nothing of it')
  t.ok(b.exceeded)
  t.equal(b.take(Buffer.from('more')).length, 0)
})

t.test('a single chunk larger than the budget', async t => {
  const b = new OutputBudget(3)
  t.equal(b.take(Buffer.from('abcdef')).toString(), 'abc')
  t.ok(b.exceeded)
})
