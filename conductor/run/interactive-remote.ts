import type { IncomingMessage } from 'node:http'
import { prepareRemote, readAll, remoteHttpError, describeReason, RemoteFailed, type RemoteRun } from './remote.js'
import { CTRL_D, attachTerminal } from './terminal.js'
import {
  DEFAULT_TERM,
  INTERACTIVE_SUBPROTOCOL,
  MAX_ARG_CHARS,
  MAX_ARGS,
  TERM_PATTERN,
  encodeControl,
  parseServerControl
} from '../model/index.js'

// `conductor action run -it SERVICE NAME --remote https://HOST --key FILE`: the same signed,
// single-use token as the POST client, sent on a WebSocket upgrade of the command's URL
// (through Caddy's forward_auth route, then the gateway's own checks); then the user's
// terminal is wired to the remote pty (protocol: interactive-protocol.ts). TLS is verified
// exactly as for the POST (--ca-file adds a CA, never disables verification).

/** The upgrade (TLS + forward_auth + gateway checks) must answer within this. */
const HANDSHAKE_TIMEOUT_MS = 30_000

export async function runInteractiveRemote(opts: RemoteRun): Promise<number> {
  const { base, url, token, ca } = await prepareRemote(opts)
  const { WebSocket } = await import('ws')
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:'
  const ws = new WebSocket(url, [INTERACTIVE_SUBPROTOCOL], {
    headers: { authorization: `Bearer ${token}` },
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    followRedirects: false,
    perMessageDeflate: false,
    ...(ca !== undefined ? { ca } : {})
  })
  const refused = new Promise<never>((_resolve, reject) => {
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      void readAll(res).then(text => reject(remoteHttpError(opts, base, res.statusCode, text)), reject)
    })
    // Never echo the request (it carries the token): only the transport's message.
    ws.once('error', err => reject(new RemoteFailed(`cannot reach ${base.host}: ${err.message}`)))
  })
  refused.catch(() => {})
  await Promise.race([new Promise<void>(resolve => ws.once('open', () => resolve())), refused])
  if (ws.protocol !== INTERACTIVE_SUBPROTOCOL) {
    ws.terminate()
    throw new RemoteFailed(
      `remote ${base.host} does not speak ${INTERACTIVE_SUBPROTOCOL} (a gateway too old for interactive commands?)`
    )
  }
  const term = process.env.TERM !== undefined && TERM_PATTERN.test(process.env.TERM) ? process.env.TERM : DEFAULT_TERM
  const send = (data: Buffer | string): void => {
    if (ws.readyState === ws.OPEN) ws.send(data)
  }
  const tty = attachTerminal({
    input: d => send(d),
    resize: (cols, rows) => send(encodeControl({ type: 'resize', cols, rows })),
    end: () => send(CTRL_D)
  })
  try {
    if (opts.args.length > MAX_ARGS || opts.args.some(a => a.length > MAX_ARG_CHARS))
      throw new RemoteFailed(`at most ${MAX_ARGS} arguments of ${MAX_ARG_CHARS} characters each`)
    send(encodeControl({ type: 'start', args: opts.args, cols: tty.cols, rows: tty.rows, term }))
    return await new Promise<number>((resolve, reject) => {
      let exit: number | undefined
      let error: string | undefined
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary) {
          tty.output(data)
          return
        }
        const c = parseServerControl(data.toString('utf8'))
        if (c?.type === 'exit') {
          exit = c.code
          if (c.reason !== undefined)
            process.stderr.write(
              `\r\nconductor: remote ${opts.service} ${opts.command} ${describeReason(c.reason)}\r\n`
            )
        } else if (c?.type === 'error') error = `${c.error}${c.message !== undefined ? ': ' + c.message : ''}`
      })
      ws.on('close', () => {
        if (exit !== undefined) resolve(exit)
        else
          reject(
            new RemoteFailed(
              error !== undefined
                ? `remote ${opts.service} ${opts.command} on ${base.host} failed: ${error}`
                : "the connection ended before the command's exit status arrived"
            )
          )
      })
      ws.on('error', err => reject(new RemoteFailed(`connection to ${base.host} failed: ${err.message}`)))
    })
  } finally {
    tty.detach()
    if (ws.readyState !== ws.CLOSED) ws.terminate()
  }
}
