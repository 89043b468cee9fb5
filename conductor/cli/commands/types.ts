import type { Command } from 'commander'
import type { Ctx } from '../../context.js'

/** Builds the context from a command's options merged with the global ones. */
export type CtxFactory = (cmd: Command) => Ctx
