import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hex } from '../helpers/hex.ts';
import { checksum, finish, fold, pseudoSumV4, pseudoSumV6, sum16 } from '../../stack/wire/checksum.ts';

/** Naive RFC 1071 reference: 16-bit big-endian words, odd byte padded with zero, end-around carry. */
function naive(buf: Uint8Array, initial = 0): number {
  let s = initial;
  for (let i = 0; i < buf.length; i += 2) s += buf[i]! * 256 + (i + 1 < buf.length ? buf[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return ~s & 0xffff;
}

test('RFC 1071 §3 numerical example', () => {
  // Bytes 00 01 f2 03 f4 f5 f6 f7: the sum is 2ddf0, folded ddf2, checksum 220d.
  const b = hex`0001 f203 f4f5 f6f7`;
  assert.is(fold(sum16(b)), 0xddf2);
  assert.is(fold(0x2ddf0), 0xddf2);
  assert.is(finish(sum16(b)), 0x220d);
  assert.is(checksum(b), 0x220d);
});

test('a buffer with its checksum inserted sums to zero (receiver check)', () => {
  const b = hex`4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7`; // RFC 791-style IPv4 header, checksum zero
  const c = checksum(b);
  assert.is(c, 0xb861); // well-known value for this header
  b[10] = c >> 8; b[11] = c & 0xff;
  assert.is(checksum(b), 0);
});

test('odd lengths: the last byte is the high half of a zero-padded word', () => {
  assert.is(checksum(hex`01`), ~0x0100 & 0xffff);
  assert.is(checksum(hex`0102 03`), ~(0x0102 + 0x0300) & 0xffff);
  assert.is(checksum(hex`0102 0304 05`), naive(hex`0102 0304 05`));
  assert.is(checksum(new Uint8Array(0)), 0xffff);
});

test('views with byteOffset != 0 (and odd offsets) read only their own bytes', () => {
  const big = Uint8Array.from({ length: 64 }, (_, i) => (i * 29 + 3) & 0xff);
  for (const off of [1, 2, 3, 5]) {
    for (const len of [0, 1, 2, 7, 8, 20, 33]) {
      const v = big.subarray(off, off + len);
      assert.is(checksum(v), naive(v), `off ${off} len ${len}`);
      assert.is(checksum(v), checksum(v.slice()));
    }
  }
});

test('initial sums chain: sum16(b, sum16(a)) for even-length a equals the sum of a ++ b', () => {
  const a = hex`dead beef 0102`, b = hex`ffff ffff 80`;
  const ab = new Uint8Array([...a, ...b]);
  assert.is(finish(sum16(b, sum16(a))), checksum(ab));
  assert.is(checksum(b, 0x12345), naive(b, 0x12345));
});

test('agrees with the naive reference on random buffers, including all-0xff words', () => {
  let x = 0xc0ffee;
  const rnd = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
  for (let k = 0; k < 300; k++) {
    const len = rnd() % 1600;
    const b = new Uint8Array(len);
    const allOnes = k % 10 === 0;
    for (let i = 0; i < len; i++) b[i] = allOnes ? 0xff : rnd() & 0xff;
    const init = k % 3 === 0 ? rnd() % 0x80000 : 0;
    assert.is(checksum(b, init), naive(b, init), `len ${len}`);
  }
  // 64 KiB of 0xff: exercises the carry folding on long inputs.
  const ff = new Uint8Array(65536).fill(0xff);
  assert.is(checksum(ff), naive(ff));
});

test('pseudo-header sums (RFC 9293 §3.1, RFC 8200 §8.1)', () => {
  const s = new Uint8Array([10, 0, 0, 1]), d = new Uint8Array([10, 0, 0, 2]);
  assert.is(fold(pseudoSumV4(s, d, 6, 40)), fold(0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 40));
  const s6 = new Uint8Array(16).fill(0x11), d6 = new Uint8Array(16).fill(0x22);
  const ph = new Uint8Array([...s6, ...d6, 0, 1, 0, 2, 0, 0, 0, 132]); // length 0x10002, next header 132
  assert.is(fold(pseudoSumV6(s6, d6, 132, 0x10002)), fold(sum16(ph)));
});

test.run();
