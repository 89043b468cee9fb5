import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'

export interface HugeJwks {
  /** GET URL serving the huge key set chunked; URL + '?declared' announces it in Content-Length too. */
  url: string
  /** Bytes handed to the socket so far (honouring backpressure), requests, and closed connections. */
  served: { bytes: number; requests: number; closed: number }
}

/**
 * A JWKS endpoint on loopback whose key set is `total` bytes (`{"keys":[` then spaces): it
 * writes only as fast as the client reads, so `served.bytes` tells how much a client read
 * before it gave up (plus what the socket buffers hold).
 */
export async function startHugeJwks(t: Test, total = 64 * 1024 * 1024): Promise<HugeJwks> {
  const served = { bytes: 0, requests: 0, closed: 0 }
  const chunk = Buffer.alloc(64 * 1024, 0x20)
  const srv = createServer((req, res) => {
    served.requests++
    const declared = req.url?.endsWith('?declared') === true ? { 'content-length': String(total + 11) } : {}
    res.writeHead(200, { 'content-type': 'application/json', ...declared })
    res.write('{"keys":[')
    let sent = 0
    let open = true
    res.on('close', () => {
      open = false
      served.closed++
    })
    const pump = (): void => {
      while (open && sent < total) {
        sent += chunk.length
        served.bytes += chunk.length
        if (!res.write(chunk)) {
          res.once('drain', pump)
          return
        }
      }
      if (open) res.end(']}')
    }
    pump()
  })
  await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    srv.closeAllConnections()
    srv.close()
  })
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/jwks.json`, served }
}
