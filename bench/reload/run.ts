import { execFileSync, spawnSync } from 'node:child_process'
import os from 'node:os'
import { CaddyClient } from '../../caddy/index.js'
import { runCli } from '../../conductor/cli/program.js'
import { binPath } from '../../test/harness/cli.js'
import { freePort } from '../../test/harness/ports.js'
import { removePods, startUserManager } from '../../test/harness/systemd.js'
import { tempDir, writeTree } from '../../test/harness/tmp.js'

// Measures a no-op reconcile: 100 declared services already converged, `conductor reload`
// must find nothing to do. Three fleets: services without pods (service unit only), services
// with one running pod each (busybox sleeping), and services without pods whose proxy template
// registers one route each in Caddy (the Caddy that `system install` declares, started by the
// reload under the user manager). Side by side: the in-process reconcile, the
// compiled CLI as a process (what an operator runs), and a bare `systemctl --user list-units`
// (the one systemd query a reload makes) as the floor, and the pod listing a reload makes when
// one is due (reconcile/pod-listing.ts) beside it. BEFORE_BIN=path/to/bin.js adds another build's
// no-op reload, run alternately with this one's.

const N = Number(process.env.SERVICES ?? 100)
const RUNS = Number(process.env.RUNS ?? 10)
const BEFORE_BIN = process.env.BEFORE_BIN
const teardowns: Array<() => unknown> = []
const t = {
  teardown: (fn: () => unknown) => {
    teardowns.push(fn)
  }
}
const silent = {
  out: () => {},
  err: (s: string) => {
    process.stderr.write(s)
  }
}

async function main(): Promise<void> {
  const sd = await startUserManager(t)
  const rows: string[][] = []
  try {
    const fleets = (process.env.FLEETS ?? 'nopods,pods,proxy').split(',')
    for (const fleetName of ['nopods', 'pods', 'proxy'].filter(f => fleets.includes(f))) {
      const withPods = fleetName === 'pods'
      const withProxy = fleetName === 'proxy'
      const prefix = `bench${Math.random().toString(36).slice(2, 6)}`
      const root = tempDir(t, 'conductor-bench-')
      t.teardown(() => removePods(prefix))
      const env = { ...sd.env, CONDUCTOR_ROOT: root, CONDUCTOR_SCOPE: 'user' }
      const files: Record<string, string | object> = {
        // The Caddy that services require, on loopback (it would take :80, :443 and localhost:2019).
        'etc/conductor/host.json': {
          caddy_admin: `127.0.0.1:${await freePort()}`,
          caddy_listen: [`127.0.0.1:${await freePort()}`]
        },
        'base/pod.template':
          '#!/bin/sh\nprintf "apiVersion: v1\\nkind: Pod\\nmetadata:\\n  name: %s\\nspec:\\n  containers:\\n    - name: main\\n      image: localhost/busybox:latest\\n      command: [\\"sleep\\", \\"3600\\"]\\n" "$POD_NAME"\n',
        'base/proxy.template':
          '#!/bin/sh\nprintf \'[{"id": "conductor-server/routes", "config": {"@id": "%s-route", ' +
          '"match": [{"path": ["/%s"]}], "handle": [{"handler": "static_response", "body": "%s"}]}}]\\n\' ' +
          '"$CONDUCTOR_SERVICE_NAME" "$CONDUCTOR_SERVICE_NAME" "$INDEX"\n',
        'base/conductor-service.json': { config: { A: '1', B: 'two' }, display_service_config: ['A'] }
      }
      for (let i = 0; i < N; i++) {
        files[`etc/conductor/services/${prefix}${i}/conductor-service.json`] = {
          inherit: ['../../../../base/conductor-service.json'],
          config: { INDEX: String(i) },
          ...(withPods ? { pods: [{ pod_template: '../../../../base/pod.template' }] } : {}),
          ...(withProxy ? { proxy_config_template: '../../../../base/proxy.template' } : {})
        }
      }
      writeTree(root, files)
      await runCli(['system', 'install'], silent, env)
      const startedAt = performance.now()
      let firstOut = ''
      const first = await runCli(
        ['reload'],
        {
          out: s => {
            firstOut += s
          },
          err: silent.err
        },
        env
      )
      const convergeMs = performance.now() - startedAt
      if (first !== 0) throw new Error(`first reload failed (${first}):\n${firstOut}`)
      if (withProxy) {
        const caddy = new CaddyClient({
          adminUrl: (files['etc/conductor/host.json'] as { caddy_admin: string }).caddy_admin
        })
        const routes = await caddy.get<unknown[]>('conductor-server/routes')
        if (routes.length !== N)
          throw new Error(`expected ${N} routes in Caddy after the first reload, got ${routes.length}`)
      }
      let out = ''
      await runCli(
        ['reload'],
        {
          out: s => {
            out += s
          },
          err: silent.err
        },
        env
      )
      if (!out.includes('nothing to do')) throw new Error(`second reload was not a no-op:\n${out}`)

      const inProcess = await timeRuns(async () => {
        await runCli(['reload'], silent, env)
      })
      // With BEFORE_BIN (the bin.js of another build, e.g. main before a change), its no-op reload
      // runs alternately with this build's on the same fleet, so both see the same load.
      const before: number[] = []
      const cliProcess = await timeRuns(async () => {
        if (BEFORE_BIN !== undefined) {
          const s = performance.now()
          execFileSync(process.execPath, [BEFORE_BIN, 'reload'], { env, stdio: 'ignore' })
          before.push(performance.now() - s)
        }
        const s = performance.now()
        execFileSync(process.execPath, [binPath, 'reload'], { env, stdio: 'ignore' })
        return performance.now() - s
      })
      const startOnly = await timeRuns(() => {
        execFileSync(process.execPath, [binPath, '--version'], { env, stdio: 'ignore' })
      })
      const listUnits = await timeRuns(() => {
        spawnSync('systemctl', ['--user', 'list-units', '--all', '--output=json', 'conductor-*'], {
          env,
          stdio: 'ignore'
        })
      })
      // The other read a reload makes of the host, asked beside list-units and the services' load.
      const podArgs = ['pod', 'ps', '--filter', `label=io.conductor.root=${root}`, '--format', 'json']
      const listPods = await timeRuns(() => {
        spawnSync('podman', podArgs, { env, stdio: 'ignore' })
      })
      const fleet = `${N} services, ${withPods ? `${N} running pods` : withProxy ? `no pods, ${N} proxy routes` : 'no pods'}`
      rows.push([fleet, 'first reload (converge from nothing)', ms(convergeMs), '-'])
      rows.push([fleet, 'no-op reload, in-process', ms(median(inProcess)), ratio(median(inProcess), median(listUnits))])
      rows.push([
        fleet,
        'no-op reload, `node dist/conductor/bin.js reload`',
        ms(median(cliProcess)),
        ratio(median(cliProcess), median(listUnits))
      ])
      if (BEFORE_BIN !== undefined)
        rows.push([
          fleet,
          `no-op reload, \`node ${BEFORE_BIN} reload\` (BEFORE_BIN, alternating with the row above)`,
          ms(median(before)),
          ratio(median(before), median(listUnits))
        ])
      rows.push([
        fleet,
        '`node dist/conductor/bin.js --version` (CLI start, no work)',
        ms(median(startOnly)),
        ratio(median(startOnly), median(listUnits))
      ])
      rows.push([fleet, '`systemctl --user list-units` alone (floor)', ms(median(listUnits)), '1.00×'])
      rows.push([
        fleet,
        '`podman pod ps --filter label=io.conductor.root=ROOT` alone',
        ms(median(listPods)),
        ratio(median(listPods), median(listUnits))
      ])
      // Stop this fleet before the next one, Caddy too: the next fleet's `system install` gives
      // it another config (admin port), which only a new start loads.
      await runCli(['reload'], silent, env).catch(() => 0)
      spawnSync('systemctl', ['--user', 'stop', 'conductor-*', 'caddy.service'], { env })
    }
  } finally {
    for (const fn of teardowns.reverse()) await fn()
  }
  console.log(
    `Load average at the end: ${os
      .loadavg()
      .map(l => l.toFixed(1))
      .join(' ')}`
  )
  console.log(
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${new Date().toISOString().slice(0, 16)} UTC; median of ${RUNS} runs\n`
  )
  console.log('| fleet | measurement | median | vs list-units |')
  console.log('|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.join(' | ')} |`)
}

/** Times RUNS calls of fn; a call that returns a number reports its own time (ms). */
async function timeRuns(fn: () => unknown): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const s = performance.now()
    const own = await fn()
    out.push(typeof own === 'number' ? own : performance.now() - s)
  }
  return out
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const ms = (x: number): string => `${x.toFixed(0)} ms`
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`

await main()
