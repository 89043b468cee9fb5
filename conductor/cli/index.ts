// Public surface of conductor/cli/.
export { runCli } from './program.js'
