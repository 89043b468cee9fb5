import t from 'tap'
import {
  decodeMessage,
  decodeUnitList,
  encodeMethodCall,
  METHOD_CALL,
  messageLength
} from '../../../../conductor/host/dbus-wire.js'

// conductor/host/dbus-wire.ts: the bytes of a method call, the framing of a reply. Whether systemd
// understands them is the e2e test's (test/e2e/conductor/host/systemd-bus.test.ts, a real manager).

const call = encodeMethodCall({
  serial: 7,
  path: '/org/freedesktop/systemd1',
  interface: 'org.freedesktop.systemd1.Manager',
  member: 'ListUnitsByPatterns',
  args: [[], ['conductor-*', 'caddy.service']]
})

t.test('a method call: fixed header, fields, the body 8-aligned, lengths that add up', async t => {
  t.equal(call[0], 0x6c, 'little-endian')
  t.equal(call[1], METHOD_CALL)
  t.equal(call[3], 1, 'protocol version 1')
  t.equal(call.readUInt32LE(8), 7, 'the serial')
  t.equal(messageLength(call), call.length, 'messageLength: header, padding and body')
  const msg = decodeMessage(call)
  t.equal(msg.signature, 'asas', 'the body signature: two arrays of strings')
  t.equal(msg.bodyAt % 8, 0, 'the body starts 8-aligned')
  t.equal(call.length - msg.bodyAt, call.readUInt32LE(4), 'body length as declared')
  // Body: [] (u32 0), then ["conductor-*", "caddy.service"]: u32 length, each string u32 + bytes + NUL, 4-aligned.
  const body = call.subarray(msg.bodyAt)
  t.equal(body.readUInt32LE(0), 0, 'the empty array of states')
  t.equal(
    body.readUInt32LE(4),
    4 + 11 + 1 + 4 + 13 + 1,
    'the patterns array length (the first string ends 4-aligned: no padding)'
  )
  t.equal(body.toString('utf8', 12, 23), 'conductor-*')
  t.equal(body.toString('utf8', 28, 41), 'caddy.service')
})

t.test('framing: a partial header has no length yet; a truncated body or a bad first byte is refused', async t => {
  t.equal(messageLength(call.subarray(0, 15)), undefined)
  t.equal(messageLength(call.subarray(0, 16)), call.length, 'known from the fixed header')
  t.throws(() => decodeMessage(call.subarray(0, 20)), /D-Bus message truncated/)
  const bad = Buffer.from(call)
  bad[0] = 0x58
  t.throws(() => messageLength(bad), /not a D-Bus message/)
  t.throws(() => decodeUnitList(decodeMessage(call)), /unexpected reply signature "asas"/)
})
