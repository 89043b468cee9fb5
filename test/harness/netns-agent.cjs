'use strict'
// The test's hands inside one test host's network namespace (test/harness/netns.ts starts it with
// `nsenter --net=...`, one per host). A socket belongs to the namespace it was created in, so:
// - "forward": the test sends a listening server it made on the root namespace's loopback; each
//   connection accepted there is relayed to HOST:PORT dialed from here, i.e. the namespace's own
//   loopback or addresses. The test's in-process clients (NATS, HTTP) reach the host this way.
// - "request": an HTTP(S) request made from inside the namespace (what a peer on this host would
//   do), verified against the given CA file only.
// - "probe": can a TCP connection to HOST:PORT be opened from here, and what does it say first?
// Plain JavaScript, no TypeScript loader: it starts in ~0.1 s. It exits when the test process's IPC
// channel closes, so a killed test never leaves it behind.
const fs = require('node:fs')
const http = require('node:http')
const https = require('node:https')
const net = require('node:net')

function relay(server, host, port) {
  server.on('connection', client => {
    const upstream = net.connect(port, host)
    client.pipe(upstream)
    upstream.pipe(client)
    const close = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('error', close)
    upstream.on('error', close)
    client.on('close', close)
    upstream.on('close', close)
  })
}

function request(m, reply) {
  const url = new URL(m.url)
  const mod = url.protocol === 'https:' ? https : http
  const opts = { method: m.method || 'GET', headers: m.headers || {}, agent: false, timeout: m.timeoutMs || 5000 }
  if (m.caFile) opts.ca = [fs.readFileSync(m.caFile)]
  const req = mod.request(url, opts, res => {
    let body = ''
    res.setEncoding('utf8')
    res.on('data', d => {
      body += d
    })
    res.on('end', () => reply({ status: res.statusCode, headers: res.headers, body }))
    res.on('error', err => reply({ error: err.message, code: err.code }))
  })
  req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeout} ms`)))
  req.on('error', err => reply({ error: err.message, code: err.code }))
  // bodyFile: a binary body (an archive), read here; body: a string.
  req.end(m.bodyFile ? fs.readFileSync(m.bodyFile) : m.body)
}

function probe(m, reply) {
  const sock = net.connect(m.port, m.host)
  let data = ''
  let done = false
  const finish = result => {
    if (!done) {
      done = true
      clearTimeout(timer)
      sock.destroy()
      reply(result)
    }
  }
  const timer = setTimeout(() => finish({ connected: !sock.connecting, data }), m.timeoutMs || 1000)
  sock.on('connect', () => {
    if (m.readFirst === false) finish({ connected: true, data })
  })
  sock.on('data', d => {
    data += d.toString('utf8')
    finish({ connected: true, data })
  })
  sock.on('error', err => finish({ connected: false, error: err.message, code: err.code }))
}

process.on('message', (m, handle) => {
  if (m === null || typeof m !== 'object') return
  const reply = body => process.send({ id: m.id, ...body })
  try {
    if (m.type === 'forward') {
      relay(handle, m.host, m.port)
      reply({ ok: true })
    } else if (m.type === 'request') request(m, reply)
    else if (m.type === 'probe') probe(m, reply)
    else reply({ error: `unknown message type ${m.type}` })
  } catch (err) {
    reply({ error: err.message })
  }
})
process.on('disconnect', () => process.exit(0))
process.send({ id: 0, ready: true })
