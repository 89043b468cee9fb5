import { hostname } from 'node:os'
import type { AuthLog } from './auth-answer.js'

// The gateway's log while Fastify (and pino, which it loads) is still loading: serve.ts listens
// first and answers /auth meanwhile. Lines are the ones pino writes, on stdout:
// {"level":30,"time":MS,"pid":PID,"hostname":HOST,...fields,"msg":MSG}, with `err` as pino's
// serializer gives it ({type, message, stack} and the error's own fields). Loading pino itself
// would cost a worker-thread transport module graph before the first answer.

const LEVELS: Readonly<Record<string, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 }

export function earlyLog(
  level: string,
  write: (line: string) => void = line => {
    process.stdout.write(line)
  }
): AuthLog {
  const threshold = LEVELS[level] ?? LEVELS.info!
  const head = `"pid":${process.pid},"hostname":${JSON.stringify(hostname())}`
  const line =
    (n: number) =>
    (fields: object, msg: string): void => {
      if (n < threshold) return
      const rest = JSON.stringify({ ...serialize(fields), msg }).slice(1)
      write(`{"level":${n},"time":${Date.now()},${head},${rest}\n`)
    }
  return { level, info: line(30), warn: line(40), error: line(50) }
}

function serialize(fields: object): object {
  const err = (fields as { err?: unknown }).err
  if (!(err instanceof Error)) return fields
  return { ...fields, err: { ...err, type: err.constructor.name, message: err.message, stack: err.stack } }
}
