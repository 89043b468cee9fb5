#!/usr/bin/env node
import { mapStackTraces, runCli } from './cli/index.js'

// Thin entry point: everything testable lives in cli/. The shipped bin.js is this file bundled
// (scripts/bundle.mjs): its stack traces are mapped to the TypeScript sources on demand.
mapStackTraces(new URL('./', import.meta.url).href)
// No top-level await: the shipped bundle is CommonJS (scripts/bundle.mjs).
void runCli(process.argv.slice(2)).then(code => {
  // A failure must end the process even if something (a listening server) holds the event loop;
  // success lets long-running commands (the gateway) keep running.
  if (code !== 0) process.exit(code)
})
