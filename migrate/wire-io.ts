// Byte-level writer and reader for migrate/'s binary formats (snapshot, envelope, hand-over
// frames). The reader throws WireError on malformed input; each format's public decoder
// catches it and returns a Parsed error, so untrusted bytes never escape as an exception.
//
// Integer encodings:
//   uvarint  LEB128 of a safe integer >= 0 (at most 8 bytes: 56 bits cover 2^53)
//   svarint  zigzag (n >= 0 -> 2n, n < 0 -> -2n-1, in arithmetic, not bit operations) then uvarint
//   num      any number or null: one uvarint header h
//              h % 4 == 0  an integer, zigzag(h / 4) (|n| < 2^49)
//              h % 4 == 1  a multiple of 1/1024, zigzag((h - 1) / 4) / 1024 (|n * 1024| < 2^49)
//              h == 2      a float64 follows (little-endian): everything else, -0, NaN, ±Infinity
//              h == 3      null
//            so small integer instants and counters take one to three bytes and fractional
//            milliseconds from a real clock stay exact.

/** Malformed input (decoding) or a value that cannot be encoded (encoding). */
export class WireError extends Error {
  override name = 'WireError';
}

const LIMIT49 = 2 ** 49;

const zigzag = (n: number): number => (n >= 0 ? 2 * n : -2 * n - 1);
const unzigzag = (z: number): number => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);

export class Writer {
  buf: Uint8Array;
  len = 0;
  constructor(cap = 256) { this.buf = new Uint8Array(cap); }

  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }

  u8(b: number): void { this.ensure(1); this.buf[this.len++] = b & 0xff; }
  u16(v: number): void { this.ensure(2); this.buf[this.len++] = (v >>> 8) & 0xff; this.buf[this.len++] = v & 0xff; }
  u32(v: number): void {
    this.ensure(4);
    const b = this.buf;
    b[this.len++] = (v >>> 24) & 0xff; b[this.len++] = (v >>> 16) & 0xff; b[this.len++] = (v >>> 8) & 0xff; b[this.len++] = v & 0xff;
  }
  f64(v: number): void {
    this.ensure(8);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.len, 8).setFloat64(0, v, true);
    this.len += 8;
  }
  uvarint(n: number, what = 'value'): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new WireError(`${what}: ${n} is not a non-negative safe integer`);
    this.ensure(8);
    while (n >= 0x80) { this.buf[this.len++] = (n % 0x80) | 0x80; n = Math.floor(n / 0x80); }
    this.buf[this.len++] = n;
  }
  svarint(n: number, what = 'value'): void {
    if (!Number.isSafeInteger(n) || Math.abs(n) >= 2 ** 52) throw new WireError(`${what}: ${n} is not an integer in range`);
    this.uvarint(zigzag(n), what);
  }
  num(v: number | null): void {
    if (v === null) { this.uvarint(3); return; }
    if (Number.isInteger(v) && Math.abs(v) < LIMIT49 && !Object.is(v, -0)) { this.uvarint(zigzag(v) * 4); return; }
    const k = v * 1024;
    if (Number.isInteger(k) && Math.abs(k) < LIMIT49 && k / 1024 === v && !Object.is(v, -0)) { this.uvarint(zigzag(k) * 4 + 1); return; }
    this.uvarint(2);
    this.f64(v);
  }
  raw(u: Uint8Array): void { this.ensure(u.length); this.buf.set(u, this.len); this.len += u.length; }
  /** uvarint length, then the bytes. */
  bytes(u: Uint8Array): void { this.uvarint(u.length); this.raw(u); }
  /** The bytes written so far (a copy). */
  finish(): Uint8Array { return this.buf.slice(0, this.len); }
}

export class Reader {
  pos: number;
  readonly end: number;
  constructor(readonly buf: Uint8Array, start = 0, end = buf.length, readonly where = '') {
    this.pos = start;
    this.end = end;
  }

  private fail(msg: string): never { throw new WireError(this.where ? `${this.where}: ${msg}` : msg); }
  get left(): number { return this.end - this.pos; }
  need(n: number, what: string): void { if (n > this.end - this.pos) this.fail(`truncated ${what} (need ${n} bytes, ${this.end - this.pos} left)`); }

  u8(what = 'byte'): number { this.need(1, what); return this.buf[this.pos++]!; }
  u16(what = 'u16'): number { this.need(2, what); const b = this.buf, p = this.pos; this.pos += 2; return (b[p]! << 8) | b[p + 1]!; }
  u32(what = 'u32'): number {
    this.need(4, what);
    const b = this.buf, p = this.pos;
    this.pos += 4;
    return ((b[p]! * 0x1000000) + (b[p + 1]! << 16) + (b[p + 2]! << 8) + b[p + 3]!) >>> 0;
  }
  f64(what = 'float64'): number {
    this.need(8, what);
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }
  uvarint(what = 'varint'): number {
    let n = 0, mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8(what);
      n += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (!Number.isSafeInteger(n)) break;
        return n;
      }
      mul *= 0x80;
    }
    return this.fail(`bad ${what} (varint too long)`);
  }
  svarint(what = 'signed varint'): number { return unzigzag(this.uvarint(what)); }
  num(what = 'number'): number | null {
    const h = this.uvarint(what);
    if (h === 3) return null;
    if (h === 2) return this.f64(what);
    if (h % 4 === 0) return unzigzag(h / 4);
    if (h % 4 === 1) return unzigzag((h - 1) / 4) / 1024;
    return this.fail(`bad ${what} (number header ${h})`);
  }
  /** A number that must not be null. */
  numNN(what: string): number {
    const v = this.num(what);
    if (v === null) this.fail(`${what} is null`);
    return v;
  }
  /** n raw bytes (a view; copy with slice to keep). */
  raw(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** uvarint length, then that many bytes, as an owned copy. */
  bytes(what = 'bytes', max = Infinity): Uint8Array {
    const n = this.uvarint(`${what} length`);
    if (n > max) this.fail(`${what}: ${n} bytes exceeds the limit ${max}`);
    return this.raw(n, what).slice();
  }
  /** A count of items each at least `minSize` bytes long: refuses counts the remaining input cannot hold. */
  count(what: string, minSize = 1, max = Infinity): number {
    const n = this.uvarint(`${what} count`);
    if (n > max) this.fail(`${what}: count ${n} exceeds the limit ${max}`);
    if (n * minSize > this.end - this.pos) this.fail(`${what}: count ${n} exceeds the input`);
    return n;
  }
  done(): void { if (this.pos !== this.end) this.fail(`${this.end - this.pos} unexpected trailing bytes`); }
}
