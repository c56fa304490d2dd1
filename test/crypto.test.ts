import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, createHmac } from 'node:crypto';
import { sha256, hmacSha256, macEqual, keyedHash32, md5, siphash24 } from '../stack/crypto.ts';
import { toHex } from '../stack/wire/bytes.ts';

const enc = (s: string) => new TextEncoder().encode(s);

test('sha256: FIPS 180-4 examples', () => {
  assert.is(toHex(sha256(enc('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.is(toHex(sha256(new Uint8Array(0))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.is(toHex(sha256(enc('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
});

test('sha256 and hmac agree with node:crypto on every length 0..300', () => {
  for (let n = 0; n <= 300; n++) {
    const d = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
    assert.is(toHex(sha256(d)), createHash('sha256').update(d).digest('hex'), `sha256 len ${n}`);
    const key = d.subarray(0, n % 90);
    assert.is(toHex(hmacSha256(key, d)), createHmac('sha256', key).update(d).digest('hex'), `hmac len ${n}`);
  }
});

test('hmac: RFC 4231 test case 2', () => {
  assert.is(toHex(hmacSha256(enc('Jefe'), enc('what do ya want for nothing?'))),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
});

test('macEqual and keyedHash32', () => {
  assert.ok(macEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
  assert.not.ok(macEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
  assert.not.ok(macEqual(new Uint8Array([1]), new Uint8Array([1, 0])));
  const h = keyedHash32(enc('k'), enc('x'));
  assert.ok(h >= 0 && h <= 0xffffffff && Number.isInteger(h));
  assert.is.not(h, keyedHash32(enc('k'), enc('y')));
});

test('md5: RFC 1321 §A.5 test suite', () => {
  const suite: [string, string][] = [
    ['', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['a', '0cc175b9c0f1b6a831c399e269772661'],
    ['abc', '900150983cd24fb0d6963f7d28e17f72'],
    ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
    ['abcdefghijklmnopqrstuvwxyz', 'c3fcd3d76192e4007dfb496cca67e13b'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'd174ab98d277d9f5a5611c2c9f419d9f'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', '57edf4a22be3c955ac49da2e2107b67a'],
  ];
  for (const [m, d] of suite) assert.is(toHex(md5(enc(m))), d, JSON.stringify(m));
});

test('md5 agrees with node:crypto on every length 0..300 (padding boundaries at 55/56/64)', () => {
  for (let n = 0; n <= 300; n++) {
    const d = new Uint8Array(n).map((_, i) => (i * 17 + n) & 0xff);
    assert.is(toHex(md5(d)), createHash('md5').update(d).digest('hex'), `md5 len ${n}`);
  }
});

test('SipHash-2-4: the reference vectors (key 00..0f, messages 00..n-1) and keyedHash32 is its low half', () => {
  const key = new Uint8Array(16).map((_, i) => i);
  const msg = (n: number): Uint8Array => new Uint8Array(n).map((_, i) => i);
  const hex = (r: [number, number]): string => r[0].toString(16).padStart(8, '0') + r[1].toString(16).padStart(8, '0');
  // Aumasson & Bernstein, "SipHash: a fast short-input PRF", Appendix A, and the reference vectors.h (little-endian outputs read as u64).
  assert.is(hex(siphash24(key, msg(0))), '726fdb47dd0e0e31');
  assert.is(hex(siphash24(key, msg(8))), '93f5f5799a932462');
  assert.is(hex(siphash24(key, msg(15))), 'a129ca6149be45e5');
  // A 32-byte secret folds to 16 bytes (XOR of its halves).
  const secret = new Uint8Array(32).map((_, i) => (i < 16 ? i : 0));
  assert.is(keyedHash32(secret, msg(15)), 0x49be45e5);
  // Deterministic, input-sensitive.
  assert.is.not(keyedHash32(secret, msg(14)), keyedHash32(secret, msg(15)));
});

test.run();
