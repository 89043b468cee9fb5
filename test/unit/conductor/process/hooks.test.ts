import t from 'tap'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { runHooks } from '../../../../conductor/process/hooks.js'
import { eachLimit } from '../../../../conductor/reconcile/apply.js'
import type { Service } from '../../../../conductor/model/service.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// Hooks run real scripts: order, parts filter, variables, failures with their output, timeouts.

function service(dir: string, hooks: Service['hooks']): Service {
  return {
    name: 'web',
    dir,
    file: path.join(dir, 'conductor-service.json'),
    files: [],
    app_name: 'web',
    instance_name: '',
    disable: false,
    config: {},
    pods: [],
    hooks,
    commands: {},
    functions: [],
    display_service_config: [],
    display_service_deployment_config: [],
    display_deployment_config: []
  }
}

t.test('hooks of one event run in order, filtered by part, with the variables', async t => {
  const dir = tempDir(t)
  writeTree(dir, { 'h.sh': '#!/bin/sh\necho "$1 $X $(pwd)" >> "$LOG"\n' })
  const log = path.join(dir, 'log')
  const svc = service(dir, [
    { id: 'a', when: 'pre-start', exec: [path.join(dir, 'h.sh'), 'a'] },
    { id: 'b', when: 'post-start', exec: [path.join(dir, 'h.sh'), 'b'] },
    { id: 'c', when: 'pre-start', exec: [path.join(dir, 'h.sh'), 'c'], parts: ['worker'] },
    { id: 'd', when: 'pre-start', exec: [path.join(dir, 'h.sh'), 'd'] }
  ])
  const ran = await runHooks(svc, 'pre-start', { PATH: process.env.PATH!, X: 'x1', LOG: log }, dir, '')
  t.same(ran, ['a', 'd'])
  t.equal(readFileSync(log, 'utf8'), `a x1 ${dir}\nd x1 ${dir}\n`)
})

t.test('a failing hook throws with its output and names the hook', async t => {
  const dir = tempDir(t)
  writeTree(dir, { 'bad.sh': '#!/bin/sh\necho "checking"\necho "database down" >&2\nexit 4\n' })
  const svc = service(dir, [{ id: 'check', when: 'pre-stop', exec: [path.join(dir, 'bad.sh')] }])
  await t.rejects(runHooks(svc, 'pre-stop', { PATH: process.env.PATH! }, dir), {
    code: 'CND_HOOK_FAILED',
    message: /\/hooks \(id "check", pre-stop\): hook exited with status 4[\s\S]*checking[\s\S]*database down/
  })
})

t.test('a hook over its timeout is killed', async t => {
  const dir = tempDir(t)
  writeTree(dir, { 'slow.sh': '#!/bin/sh\nsleep 30\n' })
  const svc = service(dir, [{ id: 'slow', when: 'post-stop', exec: [path.join(dir, 'slow.sh')], timeout_sec: 0.3 }])
  await t.rejects(runHooks(svc, 'post-stop', { PATH: process.env.PATH! }, dir), {
    code: 'CND_HOOK_FAILED',
    message: /did not finish within 0.3s/
  })
})

t.test('eachLimit runs everything with bounded concurrency', async t => {
  let running = 0
  let peak = 0
  const done: number[] = []
  await eachLimit([1, 2, 3, 4, 5, 6, 7], 3, async n => {
    running++
    peak = Math.max(peak, running)
    await new Promise(resolve => setTimeout(resolve, 5 * (n % 3)))
    running--
    done.push(n)
  })
  t.same(done.sort(), [1, 2, 3, 4, 5, 6, 7])
  t.equal(peak, 3)
})
