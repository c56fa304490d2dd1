import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32c } from '../../stack/wire/crc32c.ts';

/** Bit-at-a-time reference (RFC 9260 Appendix B description), independent of the tables. */
function crcRef(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

test('RFC 3720 Appendix B.4 vectors', () => {
  assert.is(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.is(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.is(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
});

test('CRC-32C check value of "123456789" and the empty string', () => {
  assert.is(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
  assert.is(crc32c(new Uint8Array(0)), 0);
});

test('agrees with the bitwise reference on random buffers, all lengths 0..70 and odd offsets', () => {
  let x = 0x9e3779b9;
  const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  const big = Uint8Array.from({ length: 400 }, () => rnd() & 0xff);
  for (let len = 0; len <= 70; len++) {
    for (const off of [0, 1, 3, 7]) {
      const v = big.subarray(off, off + len);
      assert.is(crc32c(v), crcRef(v), `len ${len} off ${off}`);
    }
  }
  const v = big.subarray(5, 395);
  assert.is(crc32c(v), crcRef(v));
});

test('initial continues a CRC: crc32c(b, crc32c(a)) === crc32c(a ++ b)', () => {
  const all = Uint8Array.from({ length: 100 }, (_, i) => (i * 37 + 11) & 0xff);
  for (const cut of [0, 1, 8, 13, 64, 99, 100]) {
    assert.is(crc32c(all.subarray(cut), crc32c(all.subarray(0, cut))), crc32c(all), `cut ${cut}`);
  }
});

test.run();
