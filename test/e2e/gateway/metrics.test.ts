import t from 'tap'
import { spawn } from 'node:child_process'
import { binPath } from '../../harness/cli.js'
import { startGatewayProcess } from '../../harness/gateway.js'
import { freePort, waitFor } from '../../harness/ports.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

t.test('the gateway serves Prometheus metrics on its own listener only', async t => {
  const root = tempDir(t)
  writeTree(root, {
    'etc/conductor/policies/ops.json': {
      match: [{ any: [{ default_authorizations: { x: true }, bearer: [{ token: 'good-token-123456' }] }] }]
    },
    'etc/conductor/services/svc/conductor-service.json': { functions: [{ name: 'hello', exec: ['./hello.cgi'] }] },
    'etc/conductor/services/svc/hello.cgi': '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\nhi\\n"\n'
  })
  const metricsPort = await freePort()
  const { port } = await startGatewayProcess(t, {
    env: { CONDUCTOR_ROOT: root, HOME: root },
    metricsListen: `127.0.0.1:${metricsPort}`
  })
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
  t.match(res.headers.get('content-type'), /^text\/plain/)
  const text = await res.text()
  for (const name of [
    'conductor_auth_decisions_total',
    'conductor_auth_decision_seconds',
    'conductor_function_invocations_total',
    'conductor_function_workers',
    'conductor_function_queue_length',
    'conductor_shed_requests_total',
    'conductor_gateway_process_resident_memory_bytes'
  ]) {
    t.match(text, new RegExp(`# HELP ${name} `), name)
  }
  t.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 404, 'not on the public listener')

  // Decisions and invocations are counted, with bounded labels.
  await fetch(`http://127.0.0.1:${port}/auth?policy=ops`, { headers: { authorization: 'Bearer good-token-123456' } })
  await fetch(`http://127.0.0.1:${port}/auth?policy=ops`)
  await fetch(`http://127.0.0.1:${port}/auth?policy=made-up-by-a-client`)
  t.equal((await fetch(`http://127.0.0.1:${port}/.conductor/functions/svc-hello/x`)).status, 200)
  // The answer can reach the client a moment before the script's process is gone, and the
  // slot (the "busy" gauge) is held until then: poll, do not assume.
  let after = ''
  await waitFor(
    'the function slot released once its process is gone',
    async () => {
      after = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
      return /conductor_function_workers\{function="svc-hello",state="busy"\} 0/.test(after)
    },
    5000
  )
  t.match(after, /conductor_auth_decisions_total\{policy="ops",result="allow"\} 1/)
  t.match(after, /conductor_auth_decisions_total\{policy="ops",result="deny"\} 1/)
  t.match(after, /conductor_auth_decisions_total\{policy="\(unknown\)",result="unknown_policy"\} 1/)
  t.notMatch(after, /made-up-by-a-client/, 'unknown policy names do not become labels')
  t.match(after, /conductor_auth_decision_seconds_count\{policy="ops"\} 2/)
  t.match(after, /conductor_function_invocations_total\{function="svc-hello",status="200"\} 1/)
  t.match(after, /conductor_function_workers\{function="svc-hello",state="busy"\} 0/)
  t.notMatch(after, /good-token/, 'no credential in the metrics')
  const other = await fetch(`http://127.0.0.1:${metricsPort}/other`)
  t.equal(other.status, 404)
  t.same(await other.json(), { error: 'CND_NOT_FOUND', message: 'only GET /metrics here' }, 'the one error body')
  const bad = spawn(process.execPath, [binPath, 'gateway', '--metrics-listen', '0.0.0.0:9999'], {
    env: { ...process.env, CONDUCTOR_ROOT: root },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let err = ''
  bad.stderr.on('data', (d: Buffer) => {
    err += d.toString()
  })
  const code = await new Promise(resolve => bad.once('exit', resolve))
  t.equal(code, 2)
  t.match(err, /loopback only/)
})
