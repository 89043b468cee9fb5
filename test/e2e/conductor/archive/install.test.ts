import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { lstatSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import {
  installServiceVersion,
  packServiceDir,
  recoverServiceVersions,
  rollbackServiceVersion,
  unpackServiceArchive,
  versionsDir
} from '../../../../conductor/archive/index.js'
import { loadAllServices } from '../../../../conductor/model/service.js'
import { cliProcess, repoRoot } from '../../../harness/cli.js'
import { waitFor } from '../../../harness/ports.js'
import { snapshotTree } from '../../../harness/tree.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// Issue 18: "a sync daemon killed mid-unpack leaves no partial directory and finishes on
// restart". A real process (test/fixtures/fleet/install-child.mjs, on the sources through tsx:
// the shipped bundle has no library module of its own) packs, unpacks and installs a version,
// and is killed with SIGKILL just before each step of the unpack, the install, a rollback and an
// adoption. Right after the kill SERVICES/web must be one whole version, the old or the new
// (byte-compared); a re-run (the same calls, made in this process) must converge with nothing
// left over. Then `service ls` and
// `service check` of the shipped CLI (the bundle) on a service that is a symlink into
// .conductor-versions.

t.setTimeout(300_000)

const childScript = path.join(repoRoot, 'test/fixtures/fleet/install-child.mjs')
const fleetModule = path.join(repoRoot, 'conductor/archive/index.ts')
const tsxLoader = pathToFileURL(path.join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href

interface Child {
  exited: Promise<number | string>
  stdout: () => string
  stderr: () => string
  kill: () => void
}

function startChild(args: string[], pauseAt?: string): Child {
  const env = { PATH: process.env.PATH, ...(pauseAt !== undefined ? { CONDUCTOR_FLEET_PAUSE_AT: pauseAt } : {}) }
  const proc = spawn(process.execPath, ['--import', tsxLoader, childScript, fleetModule, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
  })
  proc.stderr.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const exited = new Promise<number | string>(resolve => {
    proc.once('exit', (code, signal) => resolve(signal ?? code ?? -1))
  })
  return {
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    kill: () => {
      proc.kill('SIGKILL')
    }
  }
}

async function killBefore(t: Test, args: string[], step: string): Promise<void> {
  const child = startChild(args, step)
  t.teardown(child.kill)
  await waitFor(`the child paused before "${step}"`, () => child.stderr().includes(`paused before ${step} (`), 60_000)
  child.kill()
  t.equal(await child.exited, 'SIGKILL', `killed -9 before "${step}"`)
}

/**
 * What install-child.mjs does for ARGS (SERVICES NAME MODE [SRC VERSION]), in this process: only
 * the run that is killed needs a process of its own (a tsx start-up costs 1-2 s on a loaded
 * machine); the re-run after it is the same calls.
 */
async function runHere(t: Test, args: string[]): Promise<unknown> {
  const run = runCalls(args)
  await t.resolves(run, `${args.slice(2).join(' ')}: the re-run succeeds`)
  return await run
}

async function runCalls(args: string[]): Promise<unknown> {
  const [services, name, mode, src, version] = args as [string, string, string, string?, string?]
  if (mode === 'recover') return (await recoverServiceVersions(services)) ?? null
  if (mode === 'rollback') return (await rollbackServiceVersion(services, name)) ?? null
  const packed = await packServiceDir(src!)
  const into = versionsDir(services)
  const unpacked = await unpackServiceArchive(packed.archive, { name, expectedDigest: packed.digest, into })
  return await installServiceVersion(services, name, unpacked.dir, version!, { adopt: mode === 'adopt' })
}

/** Three versions of one service: content, an executable template, a directory, a symlink. */
function sources(t: Test): Record<'v0' | 'v1' | 'v2', string> {
  const root = tempDir(t)
  const out = {} as Record<'v0' | 'v1' | 'v2', string>
  for (const v of ['v0', 'v1', 'v2'] as const) {
    writeTree(path.join(root, v), {
      'conductor-service.json': { config: { LABEL: v }, pods: [{ pod_template: './pod.sh' }] },
      'pod.sh': `#!/bin/sh\necho ${v}\n`,
      [`static/${v}.html`]: `<p>${v}</p>\n`.repeat(1000)
    })
    out[v] = path.join(root, v)
  }
  return out
}

async function install(services: string, src: string, version: string): Promise<void> {
  const packed = await packServiceDir(src)
  const into = versionsDir(services)
  const u = await unpackServiceArchive(packed.archive, { name: 'web', expectedDigest: packed.digest, into })
  await installServiceVersion(services, 'web', u.dir, version)
}

const web = (services: string): string => path.join(services, 'web')
const storeOf = (services: string): string[] => readdirSync(path.join(versionsDir(services), 'web')).sort()

async function labelLoaded(services: string): Promise<string | undefined> {
  const entry = (await loadAllServices(services)).find(e => e.name === 'web')
  return entry?.service?.config.LABEL ?? entry?.error?.message
}

const INSTALL_STEPS = [
  // [step, the version NAME must hold right after the kill]
  ['write', 'v1'],
  ['validate', 'v1'],
  ['stage', 'v1'],
  ['mark', 'v1'],
  ['switch', 'v1'],
  ['previous', 'v2'],
  ['prune', 'v2']
] as const

for (const [step, holds] of INSTALL_STEPS) {
  t.test(`install of v2 killed before "${step}": NAME holds ${holds} whole, a re-run converges`, async t => {
    const src = sources(t)
    const services = path.join(tempDir(t), 'services')
    await install(services, src.v0, 'v0')
    await install(services, src.v1, 'v1')
    await killBefore(t, [services, 'web', 'install', src.v2, 'v2'], step)
    t.same(snapshotTree(web(services)), snapshotTree(src[holds]), `NAME is ${holds}, byte for byte`)
    t.equal(await labelLoaded(services), holds, 'and loads as such')

    await runHere(t, [services, 'web', 'install', src.v2, 'v2'])
    t.same(snapshotTree(web(services)), snapshotTree(src.v2))
    t.equal(readlinkSync(path.join(versionsDir(services), 'web/.previous')), 'v1')
    t.same(storeOf(services), ['.previous', 'v1', 'v2'], 'v0 pruned; no lock, .swap or temporary name left')
    t.same(readdirSync(versionsDir(services)), ['web'], 'no unpack directory left')
  })
}

for (const [step, holds, previous] of [
  ['switch', 'v2', 'v1'],
  ['previous', 'v1', 'v2']
] as const) {
  t.test(`rollback killed before "${step}": NAME holds ${holds}, recovery leaves ${previous} as previous`, async t => {
    const src = sources(t)
    const services = path.join(tempDir(t), 'services')
    await install(services, src.v1, 'v1')
    await install(services, src.v2, 'v2')
    await killBefore(t, [services, 'web', 'rollback'], step)
    t.same(snapshotTree(web(services)), snapshotTree(src[holds]))
    await runHere(t, [services, 'web', 'recover'])
    t.same(snapshotTree(web(services)), snapshotTree(src[holds]))
    t.equal(readlinkSync(path.join(versionsDir(services), 'web/.previous')), previous)
    t.same(storeOf(services), ['.previous', 'v1', 'v2'])
  })
}

t.test("adoption killed before each of its two renames: recovery restores the operator's directory", async t => {
  for (const step of ['adopt', 'adopt-link']) {
    const src = sources(t)
    const services = path.join(tempDir(t), 'services')
    writeTree(services, { 'web/conductor-service.json': { config: { LABEL: 'mine' } }, 'web/notes.txt': 'by hand\n' })
    const mine = snapshotTree(web(services))
    await killBefore(t, [services, 'web', 'adopt', src.v1, 'v1'], step)
    if (step === 'adopt') {
      t.ok(lstatSync(web(services)).isDirectory(), 'killed before the first rename: the directory is where it was')
    } else {
      // The one window that is not atomic (README "Fleet: service archives"): NAME is absent.
      t.throws(() => lstatSync(web(services)), { code: 'ENOENT' }, 'killed between the renames: NAME is absent')
    }
    await runHere(t, [services, 'web', 'recover'])
    t.same(snapshotTree(web(services)), mine, `${step}: recovery leaves the operator's directory in place, intact`)
    t.equal(await labelLoaded(services), 'mine')

    const result = (await runHere(t, [services, 'web', 'adopt', src.v1, 'v1'])) as { previous: string }
    t.same(snapshotTree(web(services)), snapshotTree(src.v1))
    t.same(snapshotTree(path.join(versionsDir(services), 'web', result.previous)), mine)
    t.same(storeOf(services), ['.previous', result.previous, 'v1'].sort(), 'one adopted copy, nothing else')
  }
})

t.test('service ls and check of the compiled CLI: NAME a symlink, the versions directory no service', async t => {
  const src = sources(t)
  const root = tempDir(t)
  const services = path.join(root, 'etc/conductor/services')
  writeTree(services, { 'plain/conductor-service.json': { config: { LABEL: 'plain' } } })
  await install(services, src.v1, 'v1')
  await install(services, src.v2, 'v2')
  const env = { CONDUCTOR_ROOT: root }

  const ls = await cliProcess(['service', 'ls'], env)
  t.equal(ls.code, 0, ls.stderr)
  t.match(ls.stdout, /^NAME\s.*\nplain\s+plain\s.*\nweb\s+web\s+\S+/)
  t.notMatch(ls.stdout + ls.stderr, /conductor-versions|INVALID/)
  const json = await cliProcess(['service', 'ls', '--json'], env)
  t.same(
    (JSON.parse(json.stdout) as Array<{ name: string }>).map(s => s.name),
    ['plain', 'web']
  )
  const show = await cliProcess(['service', 'show', 'web', '--json'], env)
  t.match(JSON.parse(show.stdout), { name: 'web', dir: web(services), config: { LABEL: 'v2' } })
  for (const args of [
    ['service', 'check'],
    ['service', 'check', 'web']
  ]) {
    const check = await cliProcess(args, env)
    t.equal(check.code, 0, `${args.join(' ')}: ${check.stdout}${check.stderr}`)
  }

  // Broken on disk behind the symlink: errors name the stable path, not the version directory.
  writeFileSync(path.join(versionsDir(services), 'web/v2/conductor-service.json'), '{"app_nmae": "x"}')
  const broken = await cliProcess(['service', 'check', 'web'], env)
  t.equal(broken.code, 3)
  t.match(broken.stdout, `${web(services)}/conductor-service.json: /app_nmae: unknown field; did you mean "app_name"?`)
  const lsBroken = await cliProcess(['service', 'ls'], env)
  t.equal(lsBroken.code, 3)
  t.match(lsBroken.stdout, /\nweb\s+INVALID/)
})
