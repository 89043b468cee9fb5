import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser'
import { ServiceSyntax } from './errors.js'

// Service and policy files are JSON with comments and trailing commas (ARCHITECTURE.md);
// jsonc-parser gives offsets for every error, which we turn into line:column.

export function parseJsonc (text: string, file: string, ErrorClass: new (message: string, file?: string) => Error = ServiceSyntax): unknown {
  const errors: ParseError[] = []
  const value = parse(text, errors, { allowTrailingComma: true, disallowComments: false, allowEmptyContent: false })
  if (errors.length > 0) {
    const first = errors[0]!
    const { line, column } = lineColumn(text, first.offset)
    throw new ErrorClass(`line ${line} column ${column}: JSON syntax error: ${printParseErrorCode(first.error)}`, file)
  }
  return value
}

export function lineColumn (text: string, offset: number): { line: number, column: number } {
  let line = 1
  let lineStart = 0
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) { line++; lineStart = i + 1 }
  }
  return { line, column: offset - lineStart + 1 }
}
