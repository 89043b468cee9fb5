import t from 'tap'
import { buildCgiEnv, splitPath, type RequestInfo } from '../../cgi/index.js'

const req = (over: Partial<RequestInfo> = {}): RequestInfo => ({
  method: 'POST',
  path: '/.conductor/functions/svc/a/b%20c',
  query: 'x=1&y=%41',
  scriptName: '/.conductor/functions/svc',
  pathInfo: '/a/b c',
  headers: { host: 'example.org', 'content-type': 'text/plain', 'content-length': '5', 'x-a-b': 'v', cookie: ['a=1', 'b=2'], proxy: 'http://evil', authorization: 'Bearer s', 'weird_name': 'x' },
  remoteAddr: '203.0.113.9',
  serverName: 'example.org',
  serverPort: '443',
  protocol: 'HTTP/1.1',
  scheme: 'https',
  ...over
})

t.test('RFC 3875 meta-variables', async t => {
  const env = buildCgiEnv(req({ authType: 'Bearer', remoteUser: 'alice' }), { PATH: '/bin', GATEWAY_INTERFACE: 'lie', FX: '1' })
  t.match(env, {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_METHOD: 'POST',
    QUERY_STRING: 'x=1&y=%41',
    SCRIPT_NAME: '/.conductor/functions/svc',
    PATH_INFO: '/a/b c',
    CONTENT_TYPE: 'text/plain',
    CONTENT_LENGTH: '5',
    REMOTE_ADDR: '203.0.113.9',
    SERVER_NAME: 'example.org',
    SERVER_PORT: '443',
    HTTPS: 'on',
    AUTH_TYPE: 'Bearer',
    REMOTE_USER: 'alice',
    HTTP_X_A_B: 'v',
    HTTP_HOST: 'example.org',
    HTTP_COOKIE: 'a=1; b=2',
    PATH: '/bin',
    FX: '1'
  })
  t.equal(env.HTTP_PROXY, undefined, 'httpoxy: a Proxy header never becomes HTTP_PROXY')
  t.equal(env.HTTP_AUTHORIZATION, undefined, 'credentials stay out of the environment')
  t.equal(env.HTTP_CONTENT_TYPE, undefined, 'CONTENT_TYPE is not duplicated as HTTP_*')
  t.equal(env.HTTP_WEIRD_NAME, undefined, 'odd header names are dropped, not mangled')
})

t.test('no body, no identity: the variables are absent', async t => {
  const env = buildCgiEnv(req({ method: 'GET', headers: {}, scheme: 'http' }), {})
  for (const k of ['CONTENT_TYPE', 'CONTENT_LENGTH', 'AUTH_TYPE', 'REMOTE_USER', 'HTTPS']) t.equal(env[k], undefined, k)
})

t.test('splitPath', async t => {
  const cases: Array<[string, number, string, string]> = [
    ['/.conductor/functions/id/a/b', 3, '/.conductor/functions/id', '/a/b'],
    ['/.conductor/functions/id', 3, '/.conductor/functions/id', ''],
    ['/.conductor/functions/id/', 3, '/.conductor/functions/id', '/'],
    ['/api/x%2Fy', 1, '/api', '/x/y'],
    ['/a/b', 0, '', '/a/b'],
    ['/a', 5, '/a', '']
  ]
  for (const [p, n, script, info] of cases) t.same(splitPath(p, n), { scriptName: script, pathInfo: info }, `${p} strip ${n}`)
})
