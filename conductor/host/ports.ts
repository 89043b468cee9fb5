import net from 'node:net'
import { PortsExhausted } from '../../errors/index.js'

// Host ports of deployments (pods publish them on 127.0.0.1, behind Caddy): free loopback
// ports chosen by the kernel, skipping those already held by recorded deployments (a stopped
// deployment keeps its ports until it is removed, so it can start again on the same ones).

export async function allocatePorts(names: string[], taken: ReadonlySet<number>): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  const used = new Set(taken)
  for (const name of names) {
    let port = 0
    for (let attempt = 0; attempt < 50 && (port === 0 || used.has(port)); attempt++) port = await kernelPort()
    if (port === 0 || used.has(port)) throw new PortsExhausted(`no free loopback port for "${name}"`)
    used.add(port)
    out[name] = port
  }
  return out
}

/** CONDUCTOR_PORT_<NAME> for each port, and CONDUCTOR_PORT for the first one. */
export function portVariables(names: string[], ports: Record<string, number>): Record<string, string> {
  const vars: Record<string, string> = {}
  for (const n of names) if (ports[n] !== undefined) vars[`CONDUCTOR_PORT_${n.toUpperCase()}`] = String(ports[n])
  const first = names[0]
  if (first !== undefined && ports[first] !== undefined) vars.CONDUCTOR_PORT = String(ports[first])
  return vars
}

async function kernelPort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })
}
