import { createRequire } from 'node:module'
import type * as Jsonc from 'jsonc-parser'

// Service and policy files are JSON with comments and trailing commas (ARCHITECTURE.md).
// Plain JSON goes through the native parser; only files that need it load jsonc-parser
// (its CommonJS build, synchronously), which also gives offsets for line:column errors.

const require = createRequire(import.meta.url)
let jsonc: typeof Jsonc | undefined

export function parseJsonc(
  text: string,
  file: string,
  ErrorClass: new (message: string, file?: string) => Error
): unknown {
  // Strict JSON is a subset of JSONC with the same meaning, so JSON.parse is exact when it
  // succeeds; comments, trailing commas and errors go to jsonc-parser.
  try {
    return JSON.parse(text)
  } catch {
    /* fall through */
  }
  jsonc ??= require('jsonc-parser') as typeof Jsonc
  const errors: Jsonc.ParseError[] = []
  const value = jsonc.parse(text, errors, {
    allowTrailingComma: true,
    disallowComments: false,
    allowEmptyContent: false
  })
  if (errors.length > 0) {
    const first = errors[0]!
    const { line, column } = lineColumn(text, first.offset)
    throw new ErrorClass(
      `line ${line} column ${column}: JSON syntax error: ${jsonc.printParseErrorCode(first.error)}`,
      file
    )
  }
  return value
}

export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1
  let lineStart = 0
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++
      lineStart = i + 1
    }
  }
  return { line, column: offset - lineStart + 1 }
}
