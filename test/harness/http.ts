import http from 'node:http'

// A plain HTTP request on a fresh connection. Caddy closes idle keep-alive connections when
// its config changes, so tests that change routes between requests must not reuse one. A
// header given as an array is sent once per value (repeated-header tests).

export interface HttpAnswer {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

export async function httpRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string | string[]>; body?: string } = {}
): Promise<HttpAnswer> {
  return await new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        body += d
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}

export interface KeptAliveAnswer {
  status: number
  interim: number[]
  body: string
  localPort: number | undefined
}

/**
 * GETs the paths one after another over one kept-alive connection (an Agent with a single
 * socket): each answer says which local port carried it and which interim (1xx) answers came
 * first. An answer that does not come within `timeoutMs` has status 0 and its socket is cut.
 */
export async function keptAliveGets(base: string, paths: string[], timeoutMs = 5000): Promise<KeptAliveAnswer[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const answers: KeptAliveAnswer[] = []
  try {
    for (const p of paths) {
      answers.push(
        await new Promise<KeptAliveAnswer>(resolve => {
          const interim: number[] = []
          const req = http.get(base + p, { agent }, res => {
            const localPort = res.socket?.localPort
            let body = ''
            res.setEncoding('utf8')
            res.on('data', (d: string) => {
              body += d
            })
            res.on('end', () => resolve({ status: res.statusCode ?? 0, interim, body, localPort }))
          })
          req.on('information', info => interim.push(info.statusCode))
          req.setTimeout(timeoutMs, () => {
            resolve({ status: 0, interim, body: '', localPort: req.socket?.localPort })
            req.destroy()
          })
          req.on('error', () => resolve({ status: 0, interim, body: '', localPort: undefined }))
        })
      )
    }
  } finally {
    agent.destroy()
  }
  return answers
}
