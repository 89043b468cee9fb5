// What one remote invocation may still stream (remote.max_output_bytes): the POST's stdout and
// stderr together, or an interactive session's terminal bytes. The bytes up to the limit are
// sent; the caller then stops the command (reason "output-limit") and sends nothing more.

export class OutputBudget {
  #left: number
  #exceeded = false

  constructor(readonly maxBytes: number) {
    this.#left = maxBytes
  }

  /** True once a chunk did not fit: the command is to be stopped, and nothing more sent. */
  get exceeded(): boolean {
    return this.#exceeded
  }

  /** The part of `chunk` that may still be sent (all of it, a head, or nothing). */
  take(chunk: Buffer): Buffer {
    if (this.#exceeded) return chunk.subarray(0, 0)
    if (chunk.length <= this.#left) {
      this.#left -= chunk.length
      return chunk
    }
    const head = chunk.subarray(0, this.#left)
    this.#left = 0
    this.#exceeded = true
    return head
  }
}
