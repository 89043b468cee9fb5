// What a command reads from its standard input: a CGI request's body (the built-in functions run
// as `conductor _ builtin NAME`), or a secret given as `-` so it stays out of the process list
// and the shell history.

/** The first LENGTH bytes of stdin (CONTENT_LENGTH of a CGI request); empty when LENGTH is not positive. */
export async function readBody(length: number): Promise<Buffer> {
  if (!(length > 0)) return Buffer.alloc(0)
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of process.stdin) {
    chunks.push(c as Buffer)
    size += (c as Buffer).length
    if (size >= length) break
  }
  return Buffer.concat(chunks).subarray(0, length)
}

/** The first line of stdin, trimmed (at most MAX bytes read): a secret piped in. */
export async function readSecretLine(max = 64 * 1024): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of process.stdin) {
    chunks.push(c as Buffer)
    size += (c as Buffer).length
    if (size >= max || (c as Buffer).includes(10)) break
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8').split('\n')[0]!.trim()
}
