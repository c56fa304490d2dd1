// CRC32c (Castagnoli), the SCTP checksum (RFC 9260 §6.8 and Appendix B; RFC 3309).
// Reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF. Table-driven,
// slicing-by-8: eight 256-entry tables let the main loop fold 8 input bytes per step.

/** The reflected Castagnoli polynomial (RFC 9260 Appendix B). */
const POLY = 0x82f63b78;

/** Tables T0..T7 stored flat: T[k * 256 + x]. Int32 so the XORs stay in small-integer land. */
const T = new Int32Array(8 * 256);
for (let x = 0; x < 256; x++) {
  let c = x;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
  T[x] = c;
}
for (let x = 0; x < 256; x++) {
  let c = T[x]!;
  for (let k = 1; k < 8; k++) {
    c = T[c & 0xff]! ^ (c >>> 8);
    T[k * 256 + x] = c;
  }
}

/**
 * CRC32c of `buf`. `initial` is a previous result to continue from, so that
 * crc32c(b, crc32c(a)) === crc32c(a ++ b); the default 0 starts a fresh CRC.
 * Returns an unsigned 32-bit value (RFC 3720 B.4: 32 zero bytes -> 0x8a9136aa).
 */
export function crc32c(buf: Uint8Array, initial = 0): number {
  let c = ~initial;
  const n = buf.length;
  let i = 0;
  const end8 = n - (n & 7);
  for (; i < end8; i += 8) {
    const lo = c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24));
    const hi = buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24);
    c = T[0x700 + (lo & 0xff)]! ^ T[0x600 + ((lo >>> 8) & 0xff)]! ^ T[0x500 + ((lo >>> 16) & 0xff)]! ^ T[0x400 + (lo >>> 24)]!
      ^ T[0x300 + (hi & 0xff)]! ^ T[0x200 + ((hi >>> 8) & 0xff)]! ^ T[0x100 + ((hi >>> 16) & 0xff)]! ^ T[hi >>> 24]!;
  }
  for (; i < n; i++) c = T[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
