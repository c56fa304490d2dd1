// A compact binary codec for plain data: the state the stack keeps (DEVELOPERS.md
// non-negotiable 2). encodeState refuses anything that is not plain data, so a test that
// round-trips state through it also proves the state has no hidden parts:
//   null, booleans, numbers, strings, Uint8Array (exactly, not Buffer or another view
//   subclass), arrays, and objects whose prototype is Object.prototype or null.
// Later the migration issue wraps this in a versioned, authenticated snapshot envelope.
//
// Format: one tag byte per value, then
//   0 null | 1 false | 2 true | 3 int >= 0 (varint) | 9 int < 0 (varint of -n) | 4 float64 (LE)
//   5 string (varint byte length, UTF-8) | 6 bytes (varint length, raw)
//   7 array (varint count, values) | 8 object (varint count, then key string, value)
// Integers are safe integers only (others go as float64); holes and undefined are refused.

const T_NULL = 0, T_FALSE = 1, T_TRUE = 2, T_INT = 3, T_F64 = 4, T_STR = 5, T_BYTES = 6, T_ARR = 7, T_OBJ = 8, T_NEG = 9;
const MAX_DEPTH = 64;

/** Raised for values that are not plain data (encode) or malformed input (decode). */
export class CodecError extends Error {
  override name = 'CodecError';
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

class Writer {
  buf = new Uint8Array(256);
  len = 0;
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  byte(b: number): void { this.ensure(1); this.buf[this.len++] = b; }
  varint(n: number): void {
    this.ensure(10);
    while (n >= 0x80) { this.buf[this.len++] = (n % 0x80) | 0x80; n = Math.floor(n / 0x80); }
    this.buf[this.len++] = n;
  }
  raw(u: Uint8Array): void { this.ensure(u.length); this.buf.set(u, this.len); this.len += u.length; }
}

function encodeValue(w: Writer, v: unknown, path: string, depth: number): void {
  if (depth > MAX_DEPTH) throw new CodecError(`${path}: nested deeper than ${MAX_DEPTH}`);
  if (v === null) { w.byte(T_NULL); return; }
  switch (typeof v) {
    case 'boolean': w.byte(v ? T_TRUE : T_FALSE); return;
    case 'number':
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) {
        if (v >= 0) { w.byte(T_INT); w.varint(v); } else { w.byte(T_NEG); w.varint(-v); }
      } else {
        w.byte(T_F64); w.ensure(8);
        new DataView(w.buf.buffer, w.buf.byteOffset + w.len, 8).setFloat64(0, v, true);
        w.len += 8;
      }
      return;
    case 'string': {
      const b = textEncoder.encode(v);
      w.byte(T_STR); w.varint(b.length); w.raw(b);
      return;
    }
    case 'object': break;
    default: throw new CodecError(`${path}: ${typeof v} is not plain data`);
  }
  if (v instanceof Uint8Array) {
    if (v.constructor !== Uint8Array) throw new CodecError(`${path}: ${v.constructor.name} is not a plain Uint8Array (copy it with Uint8Array.prototype.slice)`);
    w.byte(T_BYTES); w.varint(v.length); w.raw(v);
    return;
  }
  if (Array.isArray(v)) {
    w.byte(T_ARR); w.varint(v.length);
    for (let i = 0; i < v.length; i++) {
      if (!(i in v)) throw new CodecError(`${path}[${i}]: array hole`);
      encodeValue(w, v[i], `${path}[${i}]`, depth + 1);
    }
    return;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    const name = (v as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
    throw new CodecError(`${path}: ${name} is not a plain object`);
  }
  if (Object.getOwnPropertySymbols(v).length) throw new CodecError(`${path}: symbol keys`);
  const keys = Object.keys(v);
  w.byte(T_OBJ); w.varint(keys.length);
  for (const k of keys) {
    const val = (v as Record<string, unknown>)[k];
    if (val === undefined) throw new CodecError(`${path}.${k}: undefined (use null)`);
    const kb = textEncoder.encode(k);
    w.varint(kb.length); w.raw(kb);
    encodeValue(w, val, `${path}.${k}`, depth + 1);
  }
}

/** Encode plain data; throws CodecError naming the path of the first non-plain value. */
export function encodeState(v: unknown): Uint8Array {
  const w = new Writer();
  encodeValue(w, v, '$', 0);
  return w.buf.slice(0, w.len);
}

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  byte(): number {
    if (this.pos >= this.buf.length) throw new CodecError(`truncated at byte ${this.pos}`);
    return this.buf[this.pos++]!;
  }
  varint(): number {
    let n = 0, mul = 1;
    for (let i = 0; i < 9; i++) {
      const b = this.byte();
      n += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (!Number.isSafeInteger(n)) break;
        return n;
      }
      mul *= 0x80;
    }
    throw new CodecError(`bad varint at byte ${this.pos}`);
  }
  take(n: number): Uint8Array {
    if (n > this.buf.length - this.pos) throw new CodecError(`truncated: need ${n} bytes at ${this.pos}`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

function decodeValue(r: Reader, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new CodecError(`nested deeper than ${MAX_DEPTH}`);
  const tag = r.byte();
  switch (tag) {
    case T_NULL: return null;
    case T_FALSE: return false;
    case T_TRUE: return true;
    case T_INT: return r.varint();
    case T_NEG: { const n = r.varint(); if (n === 0) throw new CodecError('negative zero as int'); return -n; }
    case T_F64: { const b = r.take(8); return new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true); }
    case T_STR: return decodeString(r);
    case T_BYTES: return r.take(r.varint()).slice();
    case T_ARR: {
      const n = r.varint();
      if (n > r.buf.length - r.pos) throw new CodecError(`array of ${n} exceeds input`);
      const a: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) a[i] = decodeValue(r, depth + 1);
      return a;
    }
    case T_OBJ: {
      const n = r.varint();
      if (n > r.buf.length - r.pos) throw new CodecError(`object of ${n} keys exceeds input`);
      const o: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const k = decodeString(r);
        if (k === '__proto__' || Object.prototype.hasOwnProperty.call(o, k)) throw new CodecError(`bad or duplicate key ${JSON.stringify(k)}`);
        o[k] = decodeValue(r, depth + 1);
      }
      return o;
    }
    default: throw new CodecError(`unknown tag ${tag} at byte ${r.pos - 1}`);
  }
}

function decodeString(r: Reader): string {
  try { return textDecoder.decode(r.take(r.varint())); } catch (e) {
    if (e instanceof CodecError) throw e;
    throw new CodecError(`invalid UTF-8 at byte ${r.pos}`);
  }
}

/** Decode bytes made by encodeState; throws CodecError on malformed or trailing input. */
export function decodeState(bytes: Uint8Array): unknown {
  const r = new Reader(bytes);
  const v = decodeValue(r, 0);
  if (r.pos !== bytes.length) throw new CodecError(`${bytes.length - r.pos} trailing bytes`);
  return v;
}

/** decode(encode(v)): the round trip every state test checks. */
export const roundTrip = <T>(v: T): T => decodeState(encodeState(v)) as T;
