import http from 'node:http'
import path from 'node:path'
import t, { type Test } from 'tap'
import { buildGateway } from '../../../gateway/index.js'
import { resolveRoots } from '../../../conductor/model/index.js'
import { startCaddy, type CaddyHandle } from '../../harness/caddy.js'
import { cli } from '../../harness/cli.js'
import { tempDir, writeTree } from '../../harness/tmp.js'

// strip_prefix (issue 16 item 9): unmodified HTTP servers served as functions, through real
// Caddy and the real gateway. Neither server was written here:
// - BusyBox httpd in inetd mode (`busybox httpd -i -h DIR`: one connection on stdin/stdout) as an
//   http-stdio function, mode single;
// - lighttpd as a parallel daemon: it can listen on a unix socket (server.bind = a path), and its
//   configuration reads the socket path from $CONDUCTOR_FUNCTION_SOCKET (`env.` values).
// Both serve a site whose index links to "sub/page.html" (relative) and a CGI of their own
// (cgi-bin/q.cgi) that prints the request URI, the query and X-Conductor-Script-Name as they
// received them.

const INDEX = '<html><body><a href="sub/page.html">next</a></body></html>\n'
const PAGE = 'the sub page\n'
const Q_CGI = `#!/bin/sh
printf 'Content-Type: text/plain\\r\\n\\r\\nuri=%s query=%s script=%s\\n' "$REQUEST_URI" "$QUERY_STRING" "$HTTP_X_CONDUCTOR_SCRIPT_NAME"
`
const LIGHTTPD_CONF = `server.modules = ("mod_cgi")
server.document-root = env.SITE_DIR
server.bind = env.CONDUCTOR_FUNCTION_SOCKET
server.errorlog = "/dev/stderr"
index-file.names = ("index.html")
cgi.assign = (".cgi" => "")
`

interface Setup {
  caddy: CaddyHandle
  get: (p: string) => Promise<{ status: number; body: string }>
}

async function setup(t: Test): Promise<Setup> {
  const root = tempDir(t, 'cnd-strip-')
  const dir = path.join(root, 'etc/conductor/services/web')
  const site = path.join(dir, 'www')
  const busybox = ['busybox', 'httpd', '-i', '-h', site]
  writeTree(root, {
    'etc/conductor/services/web/conductor-service.json': {
      config: { SITE_DIR: site },
      functions: [
        { name: 'bb', format: 'http-stdio', exec: busybox, strip_prefix: true },
        { name: 'bbraw', format: 'http-stdio', exec: busybox },
        { name: 'routed', format: 'http-stdio', exec: busybox, strip_prefix: true, route: { path: '/site/*' } },
        { name: 'lh', mode: 'parallel', exec: ['lighttpd', '-D', '-f', './lighttpd.conf'], strip_prefix: true }
      ]
    },
    'etc/conductor/services/web/lighttpd.conf': LIGHTTPD_CONF,
    'etc/conductor/services/web/www/index.html': INDEX,
    'etc/conductor/services/web/www/sub/page.html': PAGE,
    'etc/conductor/services/web/www/cgi-bin/q.cgi': Q_CGI
  })
  const { app } = await buildGateway({ roots: resolveRoots({ root }), pressure: { maxEventLoopDelayMs: 0 } })
  t.teardown(async () => {
    await app.close()
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const gwPort = (app.server.address() as { port: number }).port
  const caddy = await startCaddy(t)
  for (const id of ['web-bb', 'web-bbraw', 'web-routed', 'web-lh']) {
    const out = await cli(['--root', root, 'function', 'caddy-config', '--gateway', `127.0.0.1:${gwPort}`], {
      CONDUCTOR_FUNCTION_ID: id
    })
    t.equal(out.code, 0, `caddy-config ${id}: ${out.stderr}`)
    for (const s of JSON.parse(out.stdout) as Array<{ id: string; config: object }>) {
      t.equal((await adminPost(`${caddy.adminUrl}/id/${s.id}`, s.config)).status, 200, `route ${id}`)
    }
  }
  const get = async (p: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(`http://127.0.0.1:${caddy.httpPort}${p}`, { redirect: 'manual' })
    return { status: res.status, body: await res.text() }
  }
  return { caddy, get }
}

/** Follows the page's relative link the way a browser does: resolved against the page's URL. */
function linkFrom(pageUrl: string, html: string): string {
  const href = /href="([^"]+)"/.exec(html)?.[1]
  if (href === undefined) throw new Error(`no link in ${html}`)
  return new URL(href, `http://x${pageUrl}`).pathname
}

t.test('strip_prefix: unmodified HTTP servers behind Caddy and the gateway, served under the prefix', async t => {
  const s = await setup(t)

  const cases: Array<[string, string]> = [
    ['BusyBox httpd -i (http-stdio, mode single)', '/.conductor/functions/web-bb/'],
    ['BusyBox httpd -i under a declared route', '/site/'],
    ["lighttpd on the function's unix socket (mode parallel)", '/.conductor/functions/web-lh/']
  ]
  for (const [what, base] of cases) {
    await t.test(what, async t => {
      const index = await s.get(base)
      t.equal(index.status, 200, `${base}: ${index.body}`)
      t.equal(index.body, INDEX, 'the index page, served at the prefix')
      const next = linkFrom(base, index.body)
      t.equal(next, `${base}sub/page.html`, 'its relative link stays under the prefix')
      const page = await s.get(next)
      t.equal(page.status, 200)
      t.equal(page.body, PAGE, 'the linked page is served')
      const q = await s.get(`${base}cgi-bin/q.cgi?a=1&b=%2F`)
      t.equal(q.status, 200, q.body)
      const scriptName = base.slice(0, -1)
      t.equal(
        q.body,
        `uri=/cgi-bin/q.cgi?a=1&b=%2F query=a=1&b=%2F script=${scriptName}\n`,
        'the server got the path without the prefix, the query as sent, and the prefix in X-Conductor-Script-Name'
      )
    })
  }

  await t.test('without strip_prefix the server sees the public path (and has no such file)', async t => {
    const r = await s.get('/.conductor/functions/web-bbraw/')
    t.equal(r.status, 404, 'BusyBox looks for .conductor/functions/web-bbraw/ in its directory')
    t.notMatch(r.body, /href=/)
  })
})

t.test('strip_prefix on a CGI is refused at load with the file and JSON path', async t => {
  const root = tempDir(t, 'cnd-strip-bad-')
  writeTree(root, {
    'etc/conductor/services/bad/conductor-service.json': {
      functions: [{ name: 'c', exec: ['/bin/true'], strip_prefix: true }]
    }
  })
  const r = await cli(['--root', root, 'service', 'show', 'bad'])
  t.not(r.code, 0)
  t.match(
    r.stderr,
    /services\/bad\/conductor-service\.json: \/functions\/0\/strip_prefix: applies to http-stdio workers and parallel daemons only/
  )
})

/** Caddy restarts its admin server on each change: a kept-alive connection would break. */
async function adminPost(url: string, body: object): Promise<{ status: number; body: string }> {
  return await new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent: false, headers: { 'content-type': 'application/json', connection: 'close' } },
      res => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => {
          text += c
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
      }
    )
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })
}
