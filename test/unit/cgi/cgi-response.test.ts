import t from 'tap'
import { CgiHeaderParser, parseHeaderBlock } from '../../../cgi/index.js'

t.test('document, status, redirects', async t => {
  t.match(parseHeaderBlock('Content-Type: text/plain'), {
    kind: 'document',
    status: 200,
    headers: [['Content-Type', 'text/plain']]
  })
  t.match(parseHeaderBlock('Status: 404 Not Found\nContent-Type: text/plain'), {
    kind: 'document',
    status: 404,
    reason: 'Not Found'
  })
  t.match(parseHeaderBlock('Location: https://x.example/'), { kind: 'client-redirect', status: 302 })
  t.match(parseHeaderBlock('Status: 301 Moved\nLocation: /other'), { kind: 'client-redirect', status: 301 })
  t.match(parseHeaderBlock('Location: /local?q=1'), { kind: 'local-redirect', location: '/local?q=1' })
  t.match(parseHeaderBlock('Location: //evil.example/'), { kind: 'client-redirect' }, 'protocol-relative is not local')
  t.same(
    parseHeaderBlock('Transfer-Encoding: chunked\nConnection: close\nContent-Length: 9\nX-Ok: 1').headers,
    [['X-Ok', '1']],
    "framing headers are the gateway's"
  )
})

t.test('injection and garbage are refused', async t => {
  const bad: Array<[string, string]> = [
    ['X-A: a\rSet-Cookie: x=1', 'CND_CGI_HEADER_INVALID'],
    ['X-A: a\0b', 'CND_CGI_HEADER_INVALID'],
    ['X-A: a\n folded', 'CND_CGI_HEADER_INVALID'],
    ['no colon here', 'CND_CGI_HEADER_INVALID'],
    ['Bad Name: v', 'CND_CGI_HEADER_INVALID'],
    ['Status: banana', 'CND_CGI_HEADER_INVALID']
  ]
  for (const [block, code] of bad) t.throws(() => parseHeaderBlock(block), { code }, JSON.stringify(block))
})

t.test('incremental parsing keeps the body', async t => {
  const p = new CgiHeaderParser()
  t.equal(p.push(Buffer.from('Content-Type: text/pl')), undefined)
  t.equal(p.push(Buffer.from('ain\r\n')), undefined)
  const head = p.push(Buffer.from('\r\nbody bytes'))
  t.equal(head?.rest.toString(), 'body bytes')
  t.same(head?.headers, [['Content-Type', 'text/plain']])
  const lf = new CgiHeaderParser().push(Buffer.from('X: 1\n\nrest'))
  t.equal(lf?.rest.toString(), 'rest', 'bare LF line ends are accepted (RFC 3875 §6.3)')
  const none = new CgiHeaderParser().push(Buffer.from('\r\nonly body'))
  t.same(none?.headers, [])
  t.equal(none?.rest.toString(), 'only body')
})

t.test('an oversized header block is refused', async t => {
  const p = new CgiHeaderParser(100)
  t.throws(() => p.push(Buffer.from('X: ' + 'a'.repeat(200))), { code: 'CND_CGI_HEADER_TOO_LARGE' })
})

t.test('the Status a script prints is the final answer: 200-599 only', async t => {
  // A 1xx sent as the final answer is interim to the client, which then takes the next
  // response on its connection for this one (issue 13 item 8).
  const refused = [
    '100',
    '100 Continue',
    '101 Switching Protocols',
    '103 Early Hints',
    '199',
    '000',
    '099',
    '600',
    '999 Odd'
  ]
  for (const value of refused) {
    t.throws(
      () => parseHeaderBlock(`Status: ${value}\nContent-Type: text/plain`),
      { code: 'CND_CGI_HEADER_INVALID', message: /final status must be 200-599/ },
      value
    )
  }
  t.throws(
    () => new CgiHeaderParser().push(Buffer.from('Status: 100\r\n\r\nbody')),
    { code: 'CND_CGI_HEADER_INVALID' },
    'through the incremental parser too'
  )
  t.match(parseHeaderBlock('Status: 200'), { status: 200 })
  t.match(parseHeaderBlock('Status: 599 Odd'), { status: 599, reason: 'Odd' })
  t.match(parseHeaderBlock('Status: 204 No Content'), { status: 204 })
})
