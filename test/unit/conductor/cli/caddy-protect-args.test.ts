import t from 'tap'
import { defaultRouteId, parseUpstream } from '../../../../conductor/cli/commands/caddy.js'

t.test('--upstream forms', async t => {
  t.same(parseUpstream('127.0.0.1:9000'), { dial: '127.0.0.1:9000' })
  t.same(parseUpstream('http://localhost:9000/'), { dial: 'localhost:9000' })
  t.same(parseUpstream('unix//run/app.sock'), { dial: 'unix//run/app.sock' })
  t.same(parseUpstream('[::1]:80'), { dial: '[::1]:80' })
  t.same(parseUpstream('static:hello'), { static: { status: 200, body: 'hello' } })
  t.throws(() => parseUpstream('https://x:1'), { code: 'CND_USAGE' })
  t.throws(() => parseUpstream('nope'), { code: 'CND_USAGE', message: /--upstream nope/ })
})

t.test('default route @id is readable and stable', async t => {
  t.equal(defaultRouteId('ci', ['api.example.org'], ['/deploy/*']), 'conductor-protect-ci-api.example.org-deploy')
  t.equal(defaultRouteId('ci', [], []), 'conductor-protect-ci')
})
