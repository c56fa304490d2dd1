import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeState, decodeState, roundTrip, CodecError } from '../migrate/codec.ts';

const sample = {
  v: 1, state: 'ESTABLISHED', neg: -5, big: 2 ** 52 + 3, f: 0.25, negZero: -0, nan: NaN, inf: -Infinity,
  yes: true, no: false, none: null, text: 'héllo ✓', bytes: new Uint8Array([0, 1, 255]),
  list: [1, 'a', [null, new Uint8Array(0)]], nested: { a: { b: { c: [] } } }, empty: {},
};

test('codec: plain data round-trips exactly', () => {
  const back = roundTrip(sample);
  assert.equal(back, sample);
  assert.ok(Object.is((back as typeof sample).negZero, -0));
  assert.ok(Number.isNaN((back as typeof sample).nan));
  assert.ok((back as typeof sample).bytes.constructor === Uint8Array);
});

test('codec: non-plain values are refused with their path', () => {
  const bad: [unknown, string][] = [
    [{ m: new Map() }, '$.m: Map'], [{ s: new Set() }, '$.s: Set'], [{ f: () => 1 }, '$.f: function'],
    [{ u: undefined }, '$.u: undefined'], [{ b: 1n }, '$.b: bigint'], [{ d: new Date(0) }, '$.d: Date'],
    [{ x: [1, , 3] }, '$.x[1]: array hole'], [{ buf: Buffer.from([1]) }, '$.buf: Buffer'],
    [{ c: new (class Foo {})() }, '$.c: Foo'],
  ];
  for (const [v, msg] of bad) {
    try { encodeState(v); assert.unreachable(`accepted ${msg}`); } catch (e) {
      assert.instance(e, CodecError); assert.match((e as Error).message, msg);
    }
  }
});

test('codec: every truncation of an encoding is refused', () => {
  const enc = encodeState(sample);
  for (let n = 0; n < enc.length; n++) {
    assert.throws(() => decodeState(enc.subarray(0, n)), (e: unknown) => e instanceof CodecError, `length ${n}`);
  }
  assert.throws(() => decodeState(new Uint8Array([...enc, 0])), /trailing/);
});

test('codec: random corruption never escapes as anything but CodecError', () => {
  const enc = encodeState(sample);
  let s = 12345;
  for (let i = 0; i < 3000; i++) {
    const c = enc.slice();
    s = (s * 1103515245 + 12345) >>> 0;
    const at = s % c.length;
    c[at] = c[at]! ^ (1 << ((s >>> 28) & 7));
    try { decodeState(c); } catch (e) { assert.instance(e, CodecError); }
  }
});

test.run();
