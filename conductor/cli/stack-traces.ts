import { readFileSync } from 'node:fs'
import { SourceMap } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'

// Stack traces of the shipped bundle name the TypeScript sources (conductor/.../FILE.ts:LINE)
// through the source maps next to its chunks. Node's own source map support (--enable-source-maps,
// process.setSourceMapsEnabled) reads and parses the map of every module as it is compiled: ~10%
// of a CLI start, and ~1 MB of JSON for the gateway's Fastify chunk. Here a map is read only when a
// stack trace is formatted (V8 formats `err.stack` on first access), which a normal run never does.

const maps = new Map<string, SourceMap | null>()

function mapOf(file: string): SourceMap | null {
  let map = maps.get(file)
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(fileURLToPath(`${file}.map`), 'utf8')))
    } catch {
      map = null
    }
    maps.set(file, map)
  }
  return map
}

/** One frame as V8 prints it, its position in the bundle replaced by the source's. */
export function mapFrame(frame: NodeJS.CallSite, prefix: string): string {
  const text = frame.toString()
  const file = frame.getFileName()
  const line = frame.getLineNumber()
  const column = frame.getColumnNumber()
  if (file === undefined || file === null || line === null || column === null) return text
  // A CommonJS module (the shipped bundle) is named by its path, an ES module by its URL.
  const url = file.startsWith('/') ? pathToFileURL(file).href : file
  if (!url.startsWith(prefix)) return text
  const entry = mapOf(url)?.findEntry(line - 1, column - 1)
  if (entry === undefined || !('originalSource' in entry) || entry.generatedLine !== line - 1) return text
  const source = new URL(entry.originalSource, url).href
  return text.replace(`${file}:${line}:${column}`, `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`)
}

/**
 * Formats every stack trace as V8 does (`Name: message` then `    at ...` lines), with the frames
 * of modules under `dirUrl` (the bundle's folder, a file: URL ending in /) mapped to the sources.
 * Nothing to do when Node maps them itself (--enable-source-maps).
 */
export function mapStackTraces(dirUrl: string): void {
  if (process.sourceMapsEnabled === true) return
  Error.prepareStackTrace = (err: Error, frames: NodeJS.CallSite[]): string => {
    let header: string
    try {
      header = Error.prototype.toString.call(err)
    } catch {
      header = '<error>'
    }
    return frames.length === 0 ? header : `${header}\n${frames.map(f => `    at ${mapFrame(f, dirUrl)}`).join('\n')}`
  }
}
