import t from 'tap'
import { earlyLog } from '../../../gateway/early-log.js'

t.test("the early log writes pino's lines, at and above its level", async t => {
  const lines: string[] = []
  const log = earlyLog('warn', line => {
    lines.push(line)
  })
  log.info({ a: 1 }, 'not at warn')
  log.warn({ policy: 'p', status: 403 }, 'auth: unknown policy')
  const err = Object.assign(new Error('boom'), { code: 'E_X' })
  log.error({ err }, 'auth: internal error')
  t.equal(lines.length, 2)
  t.ok(lines.every(l => l.endsWith('\n')))
  const [warn, error] = lines.map(l => JSON.parse(l) as Record<string, unknown>)
  t.match(warn, { level: 40, pid: process.pid, policy: 'p', status: 403, msg: 'auth: unknown policy' })
  t.type(warn!.time, 'number')
  t.same(Object.keys(warn!).slice(0, 4), ['level', 'time', 'pid', 'hostname'], "pino's order")
  t.match(error, { level: 50, msg: 'auth: internal error', err: { type: 'Error', message: 'boom', code: 'E_X' } })
  t.match((error!.err as { stack: string }).stack, /boom/)
})
