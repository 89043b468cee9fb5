#!/usr/bin/env node
import { runCli } from './cli.js'

// Thin entry point: everything testable lives in cli.ts.
process.exitCode = await runCli(process.argv.slice(2))
