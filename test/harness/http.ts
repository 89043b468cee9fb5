import http from 'node:http'

// A plain HTTP request on a fresh connection. Caddy closes idle keep-alive connections when
// its config changes, so tests that change routes between requests must not reuse one. A
// header given as an array is sent once per value (repeated-header tests).

export interface HttpAnswer { status: number, headers: http.IncomingHttpHeaders, body: string }

export async function httpRequest (url: string, opts: { method?: string, headers?: Record<string, string | string[]>, body?: string } = {}): Promise<HttpAnswer> {
  return await new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}
