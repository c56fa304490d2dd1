// Byte helpers shared by every wire format. Untrusted input never throws: parsers
// return Parsed<T>; only programmer errors (a too-small output buffer) throw.

/** Result of parsing untrusted bytes: a typed value or a typed error, never a throw. */
export type Parsed<T, E extends string = string> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: E };

/** Success helper. */
export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });
/** Failure helper. */
export const err = <E extends string>(error: E): { ok: false; error: E } => ({ ok: false, error });

/** A DataView over exactly the bytes of `u`, respecting byteOffset (Node Buffers share a pool). */
export const view = (u: Uint8Array): DataView => new DataView(u.buffer, u.byteOffset, u.byteLength);

/**
 * An owned copy of `u` as a plain Uint8Array. Not `u.slice()`: on a Node Buffer (a Uint8Array
 * subclass) `slice` returns a view that aliases the caller's memory.
 */
export function copyBytes(u: Uint8Array): Uint8Array {
  const c = new Uint8Array(u.length);
  c.set(u);
  return c;
}

/**
 * `u` as a plain Uint8Array over the same memory (no copy). Entry points apply this to bytes
 * handed in by callers, so that `.slice()` further in really copies, even if the caller passed
 * a Node Buffer (whose `slice` is a view).
 */
export const plainBytes = (u: Uint8Array): Uint8Array =>
  u.constructor === Uint8Array ? u : new Uint8Array(u.buffer, u.byteOffset, u.byteLength);

/** Concatenate byte arrays into one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Lower-case hex of `u` (for logs and tests). */
export function toHex(u: Uint8Array): string {
  let s = '';
  for (let i = 0; i < u.length; i++) s += (u[i]! < 16 ? '0' : '') + u[i]!.toString(16);
  return s;
}

/** Parse hex (whitespace ignored); throws on odd length or bad digit: programmer input only. */
export function fromHex(s: string): Uint8Array {
  const h = s.replace(/\s+/g, '');
  if (h.length % 2 !== 0 || /[^0-9a-fA-F]/.test(h)) throw new Error(`bad hex: ${s.slice(0, 40)}`);
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Throw if an emit target is too small: emitting into a short buffer is a programmer error. */
export function need(out: Uint8Array, len: number, what: string): void {
  if (out.length < len) throw new RangeError(`${what}: output buffer ${out.length} < ${len}`);
}
