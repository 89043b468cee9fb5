// Hand-made tar archives, for tests that must send what no well-behaved packer writes (`..`,
// absolute paths, links leaving the tree, devices).

export interface RawEntry {
  name: string
  /** ustar type flag: '0' file, '5' directory, '2' symlink, '1' hard link, '3' char device. */
  type?: string
  content?: string | Buffer
  linkname?: string
  mode?: number
  /** ustar prefix field (the first part of a long name). */
  prefix?: string
  /** Declared size, when it must differ from the content's. */
  size?: number
}

function rawHeader(e: RawEntry, size: number): Buffer {
  const h = Buffer.alloc(512)
  const put = (off: number, len: number, value: string): void => {
    h.write(value, off, len, 'utf8')
  }
  const octal = (off: number, len: number, n: number): void => put(off, len, n.toString(8).padStart(len - 1, '0'))
  put(0, 100, e.name)
  octal(100, 8, e.mode ?? 0o644)
  octal(108, 8, 0)
  octal(116, 8, 0)
  octal(124, 12, e.size ?? size)
  octal(136, 12, 0)
  put(156, 1, e.type ?? '0')
  put(157, 100, e.linkname ?? '')
  put(257, 8, 'ustar\u000000')
  put(345, 155, e.prefix ?? '')
  h.fill(' ', 148, 156)
  let sum = 0
  for (const byte of h) sum += byte
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ')
  return h
}

export function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = []
  for (const e of entries) {
    const content = Buffer.from(e.content ?? '')
    blocks.push(rawHeader(e, content.length), content, Buffer.alloc((512 - (content.length % 512)) % 512))
  }
  return Buffer.concat([...blocks, Buffer.alloc(1024)])
}
