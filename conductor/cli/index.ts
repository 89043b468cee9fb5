// Public surface of conductor/cli/.
export { runCli } from './program.js'
export { mapStackTraces } from './stack-traces.js'
