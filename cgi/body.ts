import { Transform, type TransformCallback } from 'node:stream'
import { CgiBodyTooLarge } from './errors.js'

// Counts request body bytes on their way to the process; past the limit the stream errors
// with CgiBodyTooLarge (413), which also covers chunked bodies that declared no length.

export class BodyLimit extends Transform {
  private seen = 0
  constructor(private readonly max: number) {
    super()
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length
    if (this.seen > this.max) {
      cb(new CgiBodyTooLarge(`the request body is larger than ${this.max} bytes`))
      return
    }
    cb(null, chunk)
  }
}

/** A declared Content-Length above the limit: answer 413 before starting anything. */
export function declaredTooLarge(contentLength: string | string[] | undefined, max: number): boolean {
  const v = Array.isArray(contentLength) ? contentLength[0] : contentLength
  return v !== undefined && /^\d+$/.test(v) && Number(v) > max
}
