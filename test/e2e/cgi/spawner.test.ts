import { spawnSync } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import t from 'tap'
import { Spawner, encodeFrame } from '../../../cgi/spawner.js'
import { repoRoot } from '../../harness/cli.js'
import { waitFor } from '../../harness/ports.js'
import { isAlive } from '../../harness/procs.js'
import { tempDir } from '../../harness/tmp.js'

// The fork server itself (cgi/spawner/conductor-spawner.c), compiled as `npm run build` does:
// it reads every frame in its own poll loop, so a client that sends half a frame stalls
// nobody, and it reads exactly the frame, leaving the request body to the script.

/** Everything a connection receives; `framed`: a raw connection, whose first 4 bytes are the pid. */
async function output(sock: net.Socket, framed = false): Promise<{ pid: number; text: string }> {
  const chunks: Buffer[] = []
  for await (const c of sock) chunks.push(c as Buffer)
  const all = Buffer.concat(chunks)
  return framed ? { pid: all.readUInt32LE(0), text: all.subarray(4).toString() } : { pid: 0, text: all.toString() }
}

t.test(
  "conductor-spawner: half-sent frames stall nobody, the body after a frame is the script's, children lead their own group",
  async t => {
    const dir = tempDir(t, 'cnd-spawner-')
    const bin = path.join(dir, 'conductor-spawner')
    const cc = spawnSync(
      'cc',
      ['-O2', '-Wall', '-Wl,-z,now', '-o', bin, path.join(repoRoot, 'cgi/spawner/conductor-spawner.c')],
      { encoding: 'utf8' }
    )
    if (cc.status !== 0) {
      t.skip(`no C compiler: ${cc.stderr ?? cc.error?.message}`, () => {})
      return
    }
    t.equal(cc.stderr, '', 'compiles without warnings')
    const spawner = new Spawner(bin, dir)
    t.teardown(() => spawner.stop())
    await spawner.start()
    t.ok(spawner.isRunning, 'listening')

    const frame = encodeFrame(
      ['/bin/sh', '-c', 'echo "pgid=$(ps -o pgid= $$ | tr -d " ") pid=$$ cwd=$PWD x=$X"; cat'],
      '/tmp',
      { X: 'y', PATH: '/usr/bin:/bin' },
      false
    )
    // A client that sends its frame in pieces, the first 3 bytes now and the rest later.
    const slow = net.connect(spawner.socketPath)
    await new Promise(resolve => slow.once('connect', resolve))
    slow.write(frame.subarray(0, 3))
    const slowOut = output(slow, true)

    // Meanwhile another request is served at once.
    const { socket, pid } = await spawner.connect(['/bin/sh', '-c', 'echo fast'], '/', { PATH: '/usr/bin:/bin' }, false)
    const fast = await output(socket)
    t.equal(fast.text, 'fast\n', 'a second client is served while the first has sent 3 bytes')
    t.ok(pid > 0, 'its pid came first')

    // A program that prints at once: its output lands in the same read as its pid (the event
    // loop is held until both are in the socket), and must reach whoever reads the connection.
    const early = spawner.connect(['/bin/echo', 'early'], '/', {}, false)
    for (let i = 0; i < 3; i++) await new Promise(resolve => setImmediate(resolve)) // connected, frame sent
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200)
    const earlyOut = await output((await early).socket)
    t.equal(earlyOut.text, 'early\n', 'output that came with the pid is kept for the reader')

    // The rest of the frame in two writes, the request body right behind it.
    slow.write(frame.subarray(3, 20))
    await new Promise(resolve => setTimeout(resolve, 50))
    slow.end(Buffer.concat([frame.subarray(20), Buffer.from('the body\n')]))
    const r = await slowOut
    t.match(
      r.text,
      new RegExp(`^pgid=${r.pid} pid=${r.pid} cwd=/tmp x=y\nthe body\n$`),
      'frame read exactly: the script got its argv, env, cwd, its own group, and the whole body'
    )

    // Garbage and early closes do not hurt the server.
    for (const bad of [Buffer.from([1, 0, 0, 0]), Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2]), Buffer.alloc(0)]) {
      const s = net.connect(spawner.socketPath)
      await new Promise(resolve => s.once('connect', resolve))
      s.on('error', () => {}) // the server may reset a connection it did not read to the end
      s.end(bad)
      await new Promise(resolve => s.once('close', resolve).resume())
    }
    const missing = await spawner.connect(['/nonexistent/program'], '/', {}, false)
    t.equal((await output(missing.socket)).text, '', 'a program that cannot exec: pid, then the connection closes')
    await waitFor('the failed child is gone', () => !isAlive(missing.pid))
    const again = await spawner.connect(['/bin/echo', 'still', 'serving'], '/', {}, false)
    t.equal((await output(again.socket)).text, 'still serving\n', 'the server survived bad frames')
  }
)

t.test('a frame cannot carry a NUL: encodeFrame throws instead of cutting the string', async t => {
  // The fork server reads NUL-terminated strings: "A=x\0y" would arrive as "A=x" (issue 13 item 6).
  const frames = [
    [['/bin/echo', 'a\0b'], {}, '/'],
    [['/bin/echo'], { A: 'x\0y' }, '/'],
    [['/bin/echo'], {}, '/tm\0p']
  ] as const
  for (const [exec, env, cwd] of frames) {
    t.throws(
      () => encodeFrame([...exec], cwd, { ...env }, false),
      { code: 'CND_CGI_SPAWN_FAILED', message: /holds a NUL byte/ },
      JSON.stringify({ exec, env, cwd })
    )
  }
  t.ok(encodeFrame(['/bin/echo', 'ok'], '/', { A: 'x' }, false).length > 0, 'a frame without NUL encodes')
})
