import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, chownSync, linkSync, mkdirSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import {
  packServiceDir,
  unpackServiceArchive,
  type UnpackedService,
  type UnpackOptions
} from '../../../../conductor/archive/index.js'
import { rawTar, type RawEntry } from '../../../harness/raw-tar.js'
import { snapshotTree } from '../../../harness/tree.js'
import { tempDir, writeTree } from '../../../harness/tmp.js'

// Service archives of issue 18 with real files in temporary directories: determinism, the
// round trip, and every bad input refused with the entry named and nothing left on disk. The
// malicious archives are written by hand below (node-tar's own writer sanitises its input).

const SERVICE = {
  'conductor-service.json': {
    pods: [{ pod_template: './pod.sh' }],
    hooks: [{ id: 'h', when: 'post-start', exec: ['./hooks/notify'] }]
  },
  'pod.sh': '#!/bin/sh\necho "apiVersion: v1"\n',
  'hooks/notify': '#!/bin/sh\ntrue\n',
  'static/index.html': '<p>hello</p>\n',
  'static/Big.txt': 'x'.repeat(70_000),
  README: 'plain file\n'
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

// ---- a tiny tar writer (test/harness/raw-tar.ts): ustar headers exactly as given, nothing checked ----

type Raw = RawEntry

/** A PAX extended header (type x) setting `records` for the next entry. */
function pax(records: Record<string, string>): Raw {
  const body = Object.entries(records)
    .map(([k, v]) => {
      const line = ` ${k}=${v}\n`
      let len = line.length + 1
      while (String(len).length + line.length !== len) len++
      return `${len}${line}`
    })
    .join('')
  return { name: 'PaxHeader/x', type: 'x', content: body }
}

const VALID = { name: 'conductor-service.json', content: '{"config": {"A": "1"}}' }

// ---- packing ----

function makeCopy(root: string, options: { hardLink: boolean; reversed: boolean }): string {
  const files = Object.entries(SERVICE)
  writeTree(root, Object.fromEntries(options.reversed ? files.reverse() : files))
  symlinkSync('static/index.html', path.join(root, 'index.html'))
  mkdirSync(path.join(root, 'empty'))
  if (options.hardLink) linkSync(path.join(root, 'README'), path.join(root, 'README.copy'))
  else writeFileSync(path.join(root, 'README.copy'), SERVICE.README)
  return root
}

function withUmask<T>(umask: number, fn: () => T): T {
  const old = process.umask(umask)
  try {
    return fn()
  } finally {
    process.umask(old)
  }
}

const describe = (e: UnpackedService['entries'][number]): string =>
  `${e.path} ${e.type} ${e.mode.toString(8)} ${e.size}${e.target !== undefined ? ` -> ${e.target}` : ''}`

t.test('the same content packs to the same bytes whatever the mtimes, owners, umask, order, hard links', async t => {
  const a = makeCopy(path.join(tempDir(t), 'web'), { hardLink: false, reversed: false })
  const b = withUmask(0o077, () => makeCopy(path.join(tempDir(t), 'other-name'), { hardLink: true, reversed: true }))
  for (const rel of ['pod.sh', 'README', 'static', 'hooks/notify']) utimesSync(path.join(b, rel), 123456, 987654)
  chmodSync(path.join(b, 'pod.sh'), 0o700)
  const isRoot = process.getuid?.() === 0
  if (isRoot) for (const rel of ['pod.sh', 'README', 'static']) chownSync(path.join(b, rel), 1234, 5678)
  t.not(snapshotTree(a).join('\n'), snapshotTree(b).join('\n'), 'the two copies do differ on disk (modes)')

  const [pa, pb] = [await packServiceDir(a), await packServiceDir(b)]
  t.ok(pa.archive.equals(pb.archive), `byte-identical archives (owners changed too: ${isRoot})`)
  t.equal(pa.digest, pb.digest)
  t.equal(pa.digest, sha256(pa.archive))
  t.same(
    pa.entries.map(describe),
    [
      'README file 644 11',
      'README.copy file 644 11',
      'conductor-service.json file 644 ' + JSON.stringify(SERVICE['conductor-service.json'], null, 2).length,
      'empty directory 755 0',
      'hooks directory 755 0',
      'hooks/notify file 755 15',
      'index.html symlink 777 0 -> static/index.html',
      'pod.sh file 755 32',
      'static directory 755 0',
      'static/Big.txt file 644 70000',
      'static/index.html file 644 13'
    ],
    'byte order of names (upper case first), a directory right before its content, hard link stored as a file'
  )
  // Golden digest: the format must not drift (another machine, another node-tar patch release).
  t.equal(pa.digest, '4f8a3a40c033f269f0ec2c6f748ee7a179170c791bca326feb31988334ba2ca7', 'the digest of this tree')
})

t.test('GNU tar reads the archive: uid/gid 0, no names, mtime 0, normalised modes', async t => {
  const dir = makeCopy(path.join(tempDir(t), 'web'), { hardLink: true, reversed: false })
  const packed = await packServiceDir(dir)
  const file = path.join(tempDir(t), 'web.tar')
  writeFileSync(file, packed.archive)
  const env = { TZ: 'UTC', PATH: process.env.PATH }
  const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvf', file], { encoding: 'utf8', env })
  t.match(listing, /^-rwxr-xr-x 0\/0 +32 1970-01-01 00:00:00 pod\.sh$/m)
  t.match(listing, /^drwxr-xr-x 0\/0 +0 1970-01-01 00:00:00 hooks\/$/m)
  t.match(listing, /^lrwxrwxrwx 0\/0 +0 1970-01-01 00:00:00 index\.html -> static\/index\.html$/m)
  t.notMatch(listing, /^h/m, 'no hard link entries')
  const out = tempDir(t)
  execFileSync('tar', ['-xf', file, '-C', out])
  t.same(snapshotTree(out), snapshotTree(dir))
})

t.test('a long path and a long symlink target go through a PAX record and come back intact', async t => {
  const dir = tempDir(t)
  const deep = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(60)}/${'g'.repeat(120)}.txt`
  writeTree(dir, { 'conductor-service.json': '{}', [deep]: 'deep\n' })
  symlinkSync(deep, path.join(dir, 'link'))
  const packed = await packServiceDir(dir)
  t.ok(packed.archive.includes('PaxHeader/'), 'a PAX record was needed')
  const u = await unpackServiceArchive(packed.archive, { name: 'web', expectedDigest: packed.digest, into: tempDir(t) })
  t.same(snapshotTree(u.dir), snapshotTree(dir))
})

t.test('round trip: the unpacked tree equals the source, modes normalised even under umask 077', async t => {
  const dir = makeCopy(path.join(tempDir(t), 'web'), { hardLink: true, reversed: false })
  const packed = await packServiceDir(dir)
  const into = tempDir(t)
  const old = process.umask(0o077)
  let u: UnpackedService
  try {
    u = await unpackServiceArchive(packed.archive, { name: 'web', expectedDigest: packed.digest, into })
  } finally {
    process.umask(old)
  }
  t.same(snapshotTree(u.dir), snapshotTree(dir))
  t.equal(path.dirname(u.dir), into)
  t.match(path.basename(u.dir), new RegExp(`^\\.unpack-${process.pid}-`))
  t.same(u.entries, packed.entries)
  t.equal(u.digest, packed.digest)
})

t.test('packing refuses what a service directory must not hold, naming the file', async t => {
  const rule = 'a service directory holds only files, directories and symlinks'
  const cases: Array<[string, (dir: string) => Promise<void> | void, RegExp]> = [
    [
      'FIFO',
      dir => {
        execFileSync('mkfifo', [path.join(dir, 'pipe')])
      },
      new RegExp(`pipe: a FIFO: ${rule}`)
    ],
    [
      'socket',
      async dir => {
        const server = net.createServer()
        await new Promise<void>(resolve => server.listen(path.join(dir, 'sock'), resolve))
        t.teardown(() => {
          server.close()
        })
      },
      /sock: a socket: /
    ],
    [
      'character device',
      dir => {
        execFileSync('mknod', [path.join(dir, 'null'), 'c', '1', '3'])
      },
      /null: a character device: /
    ],
    [
      'absolute symlink',
      dir => {
        symlinkSync('/etc/passwd', path.join(dir, 'passwd'))
      },
      /passwd: symlink to "\/etc\/passwd": absolute target; only relative symlinks/
    ],
    [
      'symlink leaving the directory',
      dir => {
        symlinkSync('../outside', path.join(dir, 'up'))
      },
      /up: symlink to "\.\.\/outside": resolves outside the service directory/
    ],
    [
      'symlink escaping through another symlink',
      dir => {
        mkdirSync(path.join(dir, 'a/b'), { recursive: true })
        symlinkSync('../..', path.join(dir, 'a/b/s'))
        symlinkSync('a/b/s/../etc', path.join(dir, 'x'))
      },
      /x: symlink to "a\/b\/s\/\.\.\/etc": resolves outside/
    ],
    [
      'symlink loop',
      dir => {
        symlinkSync('b', path.join(dir, 'a'))
        symlinkSync('a', path.join(dir, 'b'))
      },
      /a: symlink to "b": more than 40 symlinks deep \(a loop\)/
    ],
    [
      'control character in a name',
      dir => {
        writeFileSync(path.join(dir, 'bad\nname'), '')
      },
      /bad\nname: control character in the path; rename it/
    ]
  ]
  for (const [what, make, message] of cases) {
    const dir = tempDir(t)
    writeTree(dir, { 'conductor-service.json': '{}' })
    try {
      await make(dir)
    } catch (err) {
      t.comment(`${what}: cannot be made here (${String(err)})`)
      continue
    }
    const named = new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/`)
    await t.rejects(packServiceDir(dir), { code: 'CND_FLEET_PACK_REFUSED', message: named }, `${what}: names the file`)
    await t.rejects(packServiceDir(dir), { message }, what)
  }
  await t.rejects(packServiceDir(path.join(tempDir(t), 'nowhere')), {
    code: 'CND_FLEET_PACK_REFUSED',
    message: /nowhere: cannot read \(ENOENT\)/
  })
  const inside = tempDir(t)
  writeTree(inside, { 'conductor-service.json': '{}', 'a/b/file': 'x' })
  symlinkSync('a/b/../b/file', path.join(inside, 'ok'))
  symlinkSync('.', path.join(inside, 'self'))
  t.equal(
    (await packServiceDir(inside)).entries.filter(e => e.type === 'symlink').length,
    2,
    'symlinks that stay inside are packed'
  )
})

t.test('packing stops at the size and entry limits', async t => {
  const dir = tempDir(t)
  writeTree(dir, { 'conductor-service.json': '{}', a: 'x'.repeat(5000), b: 'y', c: 'z' })
  await t.rejects(packServiceDir(dir, { maxBytes: 4096 }), {
    code: 'CND_FLEET_ARCHIVE_TOO_LARGE',
    message: /packs to more than 4096 bytes \(the archive limit\)/
  })
  await t.rejects(packServiceDir(dir, { maxEntries: 3 }), {
    code: 'CND_FLEET_ARCHIVE_TOO_LARGE',
    message: /more than 3 files, directories and symlinks/
  })
  t.equal((await packServiceDir(dir, { maxEntries: 4 })).entries.length, 4)
})

// ---- unpacking: every bad input refused, nothing left ----

async function refuses(
  t: Test,
  archive: Buffer,
  code: string,
  message: RegExp,
  options: Partial<UnpackOptions> = {}
): Promise<void> {
  const into = tempDir(t)
  const unpacking = unpackServiceArchive(archive, { name: 'web', expectedDigest: sha256(archive), into, ...options })
  await t.rejects(unpacking, { code, message }, `refused: ${code}`)
  t.same(readdirSync(into), [], 'nothing left on disk')
}

t.test('unpacking refuses bad entries, naming the entry and the rule', async t => {
  const cases: Array<[string, Raw[], RegExp]> = [
    [
      '".." in a path',
      [VALID, { name: 'a/../../evil', content: 'x' }],
      /^web \(archive [0-9a-f]{12}\): entry "a\/\.\.\/\.\.\/evil": "\.\." in the path$/
    ],
    ['".." as the whole path', [VALID, { name: '..', type: '5' }], /entry "\.\.": "\.\." in the path/],
    [
      '".." in a ustar prefix',
      [VALID, { name: 'evil', prefix: '..', content: 'x' }],
      /entry "\.\.\/evil": "\.\." in the path/
    ],
    [
      '".." in a PAX path',
      [VALID, pax({ path: '../evil' }), { name: 'innocent', content: 'x' }],
      /entry "\.\.\/evil": "\.\." in the path/
    ],
    [
      '".." in a GNU long name',
      [VALID, { name: '././@LongLink', type: 'L', content: '../../evil\0' }, { name: 'innocent', content: 'x' }],
      /entry "\.\.\/\.\.\/evil": "\.\." in the path/
    ],
    [
      'absolute path',
      [VALID, { name: '/etc/cron.d/evil', content: 'x' }],
      /entry "\/etc\/cron\.d\/evil": absolute path/
    ],
    ['"." component', [VALID, { name: './a', content: 'x' }], /entry "\.\/a": empty or "\." path component/],
    [
      'symlink outside',
      [VALID, { name: 'up', type: '2', linkname: '../../etc' }],
      /symlink "up" -> "\.\.\/\.\.\/etc": resolves outside the service directory/
    ],
    [
      'absolute symlink',
      [VALID, { name: 'passwd', type: '2', linkname: '/etc/passwd' }],
      /symlink "passwd" -> "\/etc\/passwd": absolute target/
    ],
    [
      'symlink escaping through a symlink',
      [VALID, { name: 'a/b/s', type: '2', linkname: '../..' }, { name: 'x', type: '2', linkname: 'a/b/s/../etc' }],
      /symlink "x" -> "a\/b\/s\/\.\.\/etc": resolves outside/
    ],
    [
      'symlink escaping through a symlink to the top',
      [VALID, { name: 'self', type: '2', linkname: 'a/..' }, { name: 'x', type: '2', linkname: 'self/../etc' }],
      /symlink "x" -> "self\/\.\.\/etc": resolves outside/
    ],
    [
      'entry written through a symlink',
      [
        VALID,
        { name: 'sub', type: '5' },
        { name: 'link', type: '2', linkname: 'sub' },
        { name: 'link/file', content: 'x' }
      ],
      /entry "link\/file" is inside "link", which is a symlink, not a directory/
    ],
    [
      'hard link outside',
      [VALID, { name: 'h', type: '1', linkname: '../../etc/shadow' }],
      /hard link "h" -> "\.\.\/\.\.\/etc\/shadow": points outside the service directory \("\.\." in the path\)/
    ],
    [
      'absolute hard link',
      [VALID, { name: 'h', type: '1', linkname: '/etc/shadow' }],
      /hard link "h" -> "\/etc\/shadow": points outside the service directory \(absolute path\)/
    ],
    [
      'hard link to nothing before it',
      [VALID, { name: 'h', type: '1', linkname: 'later' }, { name: 'later', content: 'x' }],
      /hard link "h" -> "later": no regular file of that path before it/
    ],
    [
      'character device',
      [VALID, { name: 'null', type: '3' }],
      /entry "null": CharacterDevice: device files and FIFOs are never unpacked/
    ],
    ['block device', [VALID, { name: 'sda', type: '4' }], /entry "sda": BlockDevice: device files/],
    ['FIFO', [VALID, { name: 'pipe', type: '6' }], /entry "pipe": FIFO: device files and FIFOs are never unpacked/],
    ['sparse file', [VALID, { name: 'sparse', type: 'S', content: 'x' }], /entry "sparse": unsupported entry type/],
    [
      'duplicate path',
      [VALID, { name: 'a', content: 'one' }, { name: 'a', content: 'two' }],
      /entry "a" appears twice \(entries 2 and 3\)/
    ],
    [
      'duplicate: directory and file',
      [VALID, { name: 'a/', type: '5' }, { name: 'a', content: 'x' }],
      /entry "a" appears twice/
    ],
    ['truncated content', [VALID, { name: 'cut', content: 'x', size: 4096 }], /not a valid tar archive: .*Truncated/],
    ['bad checksum', [VALID], /not a valid tar archive: .*checksum/i]
  ]
  for (const [what, entries, message] of cases) {
    const archive = rawTar(entries)
    if (what === 'bad checksum') archive[0] ^= 1
    await t.test(what, async t => {
      await refuses(t, archive, 'CND_FLEET_ARCHIVE_INVALID', message)
    })
  }
})

t.test('unpacking refuses an archive over the limits: size, unpacked size (tar bomb), entries', async t => {
  const tooLarge = 'CND_FLEET_ARCHIVE_TOO_LARGE'
  const big = rawTar([VALID, { name: 'big', content: 'x'.repeat(10_000) }])
  await refuses(t, big, tooLarge, /\d+ bytes, over the 8192-byte archive limit/, { maxBytes: 8192 })
  // 10 hard links to a 4 KB file: an archive of 10 KB that unpacks to 44 KB.
  const links = Array.from({ length: 10 }, (_, i) => ({ name: `h${i}`, type: '1', linkname: 'big' }))
  const bomb = rawTar([VALID, { name: 'big', content: 'x'.repeat(4000) }, ...links])
  t.ok(bomb.length < 16_384)
  await refuses(t, bomb, tooLarge, /unpacks to more than 16384 bytes \(the limit; a tar bomb\?\)/, { maxBytes: 16_384 })
  const many = rawTar([VALID, ...Array.from({ length: 5 }, (_, i) => ({ name: `f${i}`, content: 'x' }))])
  await refuses(t, many, tooLarge, /more than 4 entries \(the archive limit\)/, { maxEntries: 4 })
})

t.test('unpacking checks the digest first, the name, and the format', async t => {
  const archive = rawTar([VALID])
  await refuses(
    t,
    archive,
    'CND_FLEET_DIGEST_MISMATCH',
    /SHA-256 is [0-9a-f]{64}, not the expected 0{64}: corrupted or altered in transit/,
    { expectedDigest: '0'.repeat(64) }
  )
  await refuses(t, archive, 'CND_FLEET_DIGEST_MISMATCH', /expected digest "ABC" is not a SHA-256 in lowercase hex/, {
    expectedDigest: 'ABC'
  })
  for (const name of ['../web', '.hidden', 'a/b', '', '-x']) {
    await refuses(t, archive, 'CND_FLEET_NAME_INVALID', /is not a plain name: use letters, digits and _ \. -/, { name })
  }
  const notUstar = /not an uncompressed ustar archive/
  await refuses(t, gzipSync(archive), 'CND_FLEET_ARCHIVE_INVALID', notUstar)
  await refuses(t, archive.subarray(0, 700), 'CND_FLEET_ARCHIVE_INVALID', notUstar)
  await refuses(t, Buffer.alloc(2048), 'CND_FLEET_ARCHIVE_INVALID', notUstar)
})

t.test('unpacking validates the service with the loader of `service check`', async t => {
  const file = (content: string): Buffer => rawTar([{ name: 'conductor-service.json', content }])
  await refuses(
    t,
    file('{"pods": [{"name": "web"}], "app_nmae": "x"}'),
    'CND_SERVICE_INVALID',
    /^web\/conductor-service\.json: \/app_nmae: unknown field; did you mean "app_name"\?$/
  )
  await refuses(
    t,
    file('{"pods": [{"name": "web"}]}'),
    'CND_SERVICE_INVALID',
    /^web\/conductor-service\.json: \/pods\/0\/pod_template: missing: every pod needs a pod_template/
  )
  await refuses(
    t,
    file('{"pods": ['),
    'CND_SERVICE_INVALID',
    /^web\/conductor-service\.json: line 1 column \d+: JSON syntax error/
  )
  // An archive holds the whole service: a base beside it is not there.
  await refuses(
    t,
    file('{"inherit": ["../base.json"]}'),
    'CND_SERVICE_INVALID',
    /^web\/conductor-service\.json: \/inherit\/0: inherited file web\/\.\.\/base\.json does not exist/
  )
  await refuses(
    t,
    rawTar([{ name: 'README', content: 'x' }]),
    'CND_FLEET_ARCHIVE_INVALID',
    /no conductor-service\.json at its top: not a service directory/
  )
})

t.test('unpacking accepts what the rules allow: links inside, hard links as copies, implicit parents', async t => {
  const archive = rawTar([
    VALID,
    { name: 'a/b/run', content: '#!/bin/sh\n', mode: 0o4750 },
    { name: 'same', type: '1', linkname: 'a/b/run' },
    { name: 'up', type: '2', linkname: 'a/b/../b/run' },
    { name: 'dangling', type: '2', linkname: 'not/there' }
  ])
  const u = await unpackServiceArchive(archive, { name: 'web', expectedDigest: sha256(archive), into: tempDir(t) })
  const run = sha256(Buffer.from('#!/bin/sh\n')).slice(0, 16)
  t.same(
    snapshotTree(u.dir),
    [
      'a/ dir 755',
      'a/b/ dir 755',
      `a/b/run file 755 ${run}`,
      'conductor-service.json file 644 ' + sha256(Buffer.from(VALID.content)).slice(0, 16),
      'dangling symlink -> not/there',
      `same file 755 ${run}`,
      'up symlink -> a/b/../b/run'
    ],
    'setuid dropped, executable kept, the hard link a copy'
  )
})
