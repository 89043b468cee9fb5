import t from 'tap'
import { buildCgiEnv, checkPassable, splitPath, type RequestInfo } from '../../../cgi/index.js'
import { headerBytes } from '../../../cgi/cgi-env.js'

const req = (over: Partial<RequestInfo> = {}): RequestInfo => ({
  method: 'POST',
  path: '/.conductor/functions/svc/a/b%20c',
  query: 'x=1&y=%41',
  scriptName: '/.conductor/functions/svc',
  pathInfo: '/a/b c',
  headers: {
    host: 'example.org',
    'content-type': 'text/plain',
    'content-length': '5',
    'x-a-b': 'v',
    cookie: ['a=1', 'b=2'],
    proxy: 'http://evil',
    authorization: 'Bearer s',
    weird_name: 'x'
  },
  remoteAddr: '203.0.113.9',
  serverName: 'example.org',
  serverPort: '443',
  protocol: 'HTTP/1.1',
  scheme: 'https',
  ...over
})

t.test('RFC 3875 meta-variables', async t => {
  const env = buildCgiEnv(req({ authType: 'Bearer', remoteUser: 'alice' }), {
    PATH: '/bin',
    GATEWAY_INTERFACE: 'lie',
    FX: '1'
  })
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
  for (const [p, n, script, info] of cases)
    t.same(splitPath(p, n), { scriptName: script, pathInfo: info }, `${p} strip ${n}`)
})

t.test('checkPassable: a NUL cannot be in the environment, a control cannot be in a header', async t => {
  t.doesNotThrow(() => checkPassable(req(), 'env'))
  t.doesNotThrow(() => checkPassable(req(), 'http'))
  const nul: Array<[Partial<RequestInfo>, RegExp]> = [
    [{ pathInfo: '/a\0b' }, /^PATH_INFO holds a NUL byte/],
    [{ remoteUser: 'a\0' }, /^REMOTE_USER holds a NUL byte/],
    // Node's parser refuses a NUL in a client's header; the check does not rely on it.
    [{ headers: { 'x-a': ['ok', 'b\0'] } }, /^the x-a header holds a NUL byte/]
  ]
  for (const [over, message] of nul) {
    t.throws(
      () => checkPassable(req(over), 'env'),
      { code: 'CND_CGI_BAD_REQUEST', httpStatus: 400, message },
      JSON.stringify(over)
    )
  }
  t.throws(() => checkPassable(req({ pathInfo: '/a\0b' }), 'http'), { code: 'CND_CGI_BAD_REQUEST' }, 'over HTTP too')
  t.throws(() => checkPassable(req({ remoteUser: 'a\0' }), 'http'), { code: 'CND_CGI_BAD_REQUEST' }, 'over HTTP too')
  for (const pathInfo of ['/a\nb', '/a\rb', '/a\x7f', '/a\x1b[0m']) {
    const shown = JSON.stringify(pathInfo)
    t.doesNotThrow(() => checkPassable(req({ pathInfo }), 'env'), `${shown}: an environment variable holds it`)
    t.throws(
      () => checkPassable(req({ pathInfo }), 'http'),
      { message: /^PATH_INFO holds a NUL, CR, LF or other control/ },
      `${shown}: a header cannot`
    )
  }
  t.doesNotThrow(
    () => checkPassable(req({ pathInfo: '/café/€\tx', remoteUser: 'zoë' }), 'http'),
    'tab and non-ASCII text pass'
  )
  t.throws(
    () => checkPassable(req({ path: '/f/a b' }), 'http'),
    { message: /request target holds a space/ },
    'a local redirect to a path with a space'
  )
})

t.test('headerBytes: non-ASCII text as its UTF-8 bytes, one Latin-1 character each', async t => {
  t.equal(headerBytes('/plain'), '/plain')
  t.equal(headerBytes('/café/€'), '/caf\u00c3\u00a9/\u00e2\u0082\u00ac')
  t.equal(Buffer.from(headerBytes('/café/€'), 'latin1').toString('utf8'), '/café/€')
})
