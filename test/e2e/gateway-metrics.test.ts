import t from 'tap'
import { spawn } from 'node:child_process'
import { binPath } from '../harness/cli.js'
import { freePort, waitFor } from '../harness/ports.js'
import { tempDir } from '../harness/tmp.js'

t.test('the gateway serves Prometheus metrics on its own listener only', async t => {
  const root = tempDir(t)
  const port = await freePort()
  const metricsPort = await freePort()
  const gw = spawn(process.execPath, [binPath, 'gateway', '--listen', `127.0.0.1:${port}`, '--metrics-listen', `127.0.0.1:${metricsPort}`, '--log-level', 'error'], { env: { ...process.env, CONDUCTOR_ROOT: root, HOME: root }, stdio: 'ignore' })
  t.teardown(() => { gw.kill('SIGKILL') })
  await waitFor('gateway', async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, 15_000)
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
  t.match(res.headers.get('content-type'), /^text\/plain/)
  const text = await res.text()
  for (const name of ['conductor_auth_decisions_total', 'conductor_auth_decision_seconds', 'conductor_function_invocations_total', 'conductor_function_workers', 'conductor_function_queue_length', 'conductor_shed_requests_total', 'conductor_gateway_process_resident_memory_bytes']) {
    t.match(text, new RegExp(`# HELP ${name} `), name)
  }
  t.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 404, 'not on the public listener')
  t.equal((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status, 404)
  const bad = spawn(process.execPath, [binPath, 'gateway', '--metrics-listen', '0.0.0.0:9999'], { env: { ...process.env, CONDUCTOR_ROOT: root }, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  bad.stderr.on('data', (d: Buffer) => { err += d.toString() })
  const code = await new Promise(resolve => bad.once('exit', resolve))
  t.equal(code, 2)
  t.match(err, /loopback only/)
})
