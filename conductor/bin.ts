#!/usr/bin/env node
import { runCli } from './cli/index.js'

// Thin entry point: everything testable lives in cli.ts.
const code = await runCli(process.argv.slice(2))
// A failure must end the process even if something (a listening server) holds the event loop;
// success lets long-running commands (the gateway) keep running.
if (code !== 0) process.exit(code)
