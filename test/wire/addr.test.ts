import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalIp, ipToBytes, isV6, parseV4, parseV6, v6ToString } from '../../stack/wire/addr.ts';
import { v6ToStringFast } from '../../stack/wire/addr-write.ts';

test('addr: IPv4 text round-trips and rejects malformed text', () => {
  assert.equal(parseV4('10.88.0.2'), new Uint8Array([10, 88, 0, 2]));
  for (const bad of ['256.1.1.1', '1.2.3', '1.2.3.4.5', 'a.b.c.d', '', '1.2.3.4 ']) assert.is(parseV4(bad), null, bad);
});

test('addr: IPv6 canonical text follows RFC 5952', () => {
  const cases: [string, string][] = [
    ['FE80:0:0:0:0:0:0:1', 'fe80::1'], ['::', '::'], ['::1', '::1'], ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], ['::ffff:10.0.0.1', '::ffff:a00:1'], ['1::', '1::'],
  ];
  for (const [input, want] of cases) assert.is(canonicalIp(input), want, input);
  for (const bad of ['1.2.3.4::', '1:::2', '1:2:3:4:5:6:7:8:9', '12345::', 'g::1', '1::2::3', ':']) assert.is(parseV6(bad), null, bad);
});

test('addr: the fast IPv6 formatter agrees with the reference on many addresses', () => {
  let s = 7;
  for (let i = 0; i < 2000; i++) {
    const b = new Uint8Array(16);
    for (let j = 0; j < 16; j++) { s = (s * 1103515245 + 12345) >>> 0; b[j] = (s >>> 16) % 3 === 0 ? 0 : s >>> 24; }
    assert.is(v6ToStringFast(b), v6ToString(b));
    assert.equal(ipToBytes(v6ToString(b)), b);
  }
  assert.ok(isV6('::1')); assert.not.ok(isV6('1.2.3.4'));
});

test.run();
