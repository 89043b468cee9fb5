import t from 'tap'
import { splitPath, type RequestInfo } from '../../../cgi/index.js'
import { requestTarget } from '../../../cgi/runner.js'

// What an http-stdio worker or a daemon is asked for: the public path, or with strip_prefix the
// path after SCRIPT_NAME (Caddy's handle_path), still percent-encoded, the query as sent.

const info = (path: string, strip: number, query = ''): RequestInfo => ({
  method: 'GET',
  path,
  query,
  ...splitPath(path, strip),
  headers: {},
  remoteAddr: '127.0.0.1',
  serverName: 'x',
  serverPort: '80',
  protocol: 'HTTP/1.1',
  scheme: 'http'
})

t.test('requestTarget', async t => {
  const cases: Array<[string, number, string, boolean, string]> = [
    ['/.conductor/functions/web/a/b%20c', 3, 'q=1&r=%2F', false, '/.conductor/functions/web/a/b%20c?q=1&r=%2F'],
    ['/.conductor/functions/web/a/b%20c', 3, 'q=1&r=%2F', true, '/a/b%20c?q=1&r=%2F'],
    ['/.conductor/functions/web/', 3, '', true, '/'],
    ['/.conductor/functions/web', 3, '', true, '/'],
    ['/.conductor/functions/web', 3, 'x', true, '/?x'],
    ['/site/sub/page.html', 1, '', true, '/sub/page.html'],
    ['/api/v1/items', 2, '', true, '/items'],
    ['/api', 2, '', true, '/']
  ]
  for (const [path, strip, query, stripPrefix, want] of cases) {
    t.equal(
      requestTarget(info(path, strip, query), stripPrefix),
      want,
      `${path} ?${query} strip ${strip} strip_prefix ${String(stripPrefix)}`
    )
  }
})
