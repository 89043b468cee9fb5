#!/usr/bin/env node
// Thin entry point: everything testable lives in cli/. The shipped bin.js is this file bundled
// (scripts/bundle.mjs); source maps are enabled before the rest is imported, so that stack traces
// name conductor/.../FILE.ts:LINE (only modules compiled after this call are mapped).
process.setSourceMapsEnabled(true)
const { runCli } = await import('./cli/index.js')
const code = await runCli(process.argv.slice(2))
// A failure must end the process even if something (a listening server) holds the event loop;
// success lets long-running commands (the gateway) keep running.
if (code !== 0) process.exit(code)
