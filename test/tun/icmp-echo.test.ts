// stack/icmp-echo.ts: echo requests to our addresses get replies (v4 and v6); nothing else does.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { echoReply, maybeIcmp } from '../../stack/icmp-echo.ts';
import { emitIcmpv4, emitIcmpv6, icmpv4BufferLen, icmpv6BufferLen, parseIcmpv4, parseIcmpv6 } from '../../stack/wire/icmp.ts';
import type { IcmpEcho } from '../../stack/wire/icmp.ts';
import { ipPseudoSum, parseIp } from '../../stack/wire/ip.ts';
import { buildIpv4 } from '../../stack/wire/ipv4.ts';
import { buildIpv6 } from '../../stack/wire/ipv6.ts';
import { hex } from '../helpers/hex.ts';

const US4 = '10.88.0.2', THEM4 = '10.88.0.1', US6 = 'fd00::2', THEM6 = 'fd00::1';
const DATA = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]);

function req4(dst = US4, data = DATA): Uint8Array {
  const m: IcmpEcho = { kind: 'echo-request', code: 0, id: 0x1234, seq: 7, data };
  const b = new Uint8Array(icmpv4BufferLen(m));
  emitIcmpv4(m, b);
  return buildIpv4(THEM4, dst, 1, b, { ttl: 64 });
}

function req6(dst = US6): Uint8Array {
  const m: IcmpEcho = { kind: 'echo-request', code: 0, id: 0xbeef, seq: 1, data: DATA };
  const b = new Uint8Array(icmpv6BufferLen(m));
  emitIcmpv6(m, b, ipPseudoSum(THEM6, dst, 58, b.length));
  return buildIpv6(THEM6, dst, 58, b, { hopLimit: 64 });
}

test('ICMPv4 echo request to our address → echo reply, exact bytes', () => {
  const r = echoReply(req4(), [US4]);
  assert.ok(r);
  // A fixed fixture: IPv4 from us to them, ICMP type 0 with the request's id, seq and data.
  assert.equal(r, hex`
    4500 0025 0000 4000 4001 2626   # IPv4, len 37, DF, TTL 64, proto 1, header checksum
    0a58 0002 0a58 0001             # 10.88.0.2 -> 10.88.0.1
    0000 d4b0 1234 0007             # echo reply, checksum (verified with a Python RFC 1071 sum), id 0x1234, seq 7
    0102 0304 0506 0708 09          # data`);
  const p = parseIp(r);
  assert.ok(p.ok && p.value.src === US4 && p.value.dst === THEM4);
  const m = parseIcmpv4(p.ok ? p.value.payload : new Uint8Array());
  assert.ok(m.ok && m.value.kind === 'echo-reply', 'checksum verifies');
});

test('ICMPv6 echo request → echo reply with a valid checksum over the swapped pseudo-header', () => {
  const r = echoReply(req6(), [US4, US6]);
  assert.ok(r);
  const p = parseIp(r);
  assert.ok(p.ok);
  assert.is(p.value.src, US6);
  assert.is(p.value.dst, THEM6);
  const m = parseIcmpv6(p.value.payload, ipPseudoSum(US6, THEM6, 58, p.value.payload.length));
  assert.ok(m.ok, 'checksum');
  assert.ok(m.value.kind === 'echo-reply' && m.value.id === 0xbeef && m.value.seq === 1);
  assert.equal(m.value.kind === 'echo-reply' ? m.value.data : null, DATA);
});

test('not answered: another address, a bad checksum, a reply, TCP', () => {
  assert.is(echoReply(req4('10.88.0.9'), [US4]), null, 'not ours');
  const bad = req4();
  bad[bad.length - 1]! ^= 0xff;
  assert.is(echoReply(bad, [US4]), null, 'bad ICMP checksum');
  const reply = echoReply(req4(), [US4])!;
  assert.is(echoReply(reply, [THEM4]), null, 'an echo reply is not answered');
  const tcp = buildIpv4(THEM4, US4, 6, new Uint8Array(20));
  assert.is(maybeIcmp(tcp), false);
  assert.is(echoReply(tcp, [US4]), null);
  assert.is(echoReply(new Uint8Array([0x45, 0, 0]), [US4]), null, 'truncated');
});

test.run();
