// RFC 1071 Internet checksum: one's-complement sum of 16-bit words.

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Add the bytes of `buf` as big-endian 16-bit words to `initial`; returns an unfolded sum. */
export function sum16(buf: Uint8Array, initial = 0): number {
  const n = buf.length;
  let sum = initial;
  let i = 0;
  const off = buf.byteOffset;
  if (LITTLE_ENDIAN && (off & 1) === 0 && n >= 64) {
    // Fast path: sum native little-endian 32-bit words. The one's-complement sum is
    // byte-order independent (RFC 1071 §2(B)): summing byte-swapped words gives the
    // byte-swapped sum, so fold and swap back once at the end.
    if (off & 2) { sum += (buf[0]! << 8) | buf[1]!; i = 2; }
    const words = (n - i) >>> 2;
    const u32 = new Uint32Array(buf.buffer, off + i, words);
    let acc = 0;
    for (let k = 0; k < words; k++) {
      const w = u32[k]!;
      acc += (w & 0xffff) + (w >>> 16);
      if ((k & 0x3fff) === 0x3fff) acc = (acc & 0xffff) + (acc >>> 16);
    }
    acc = fold(acc);
    sum += ((acc & 0xff) << 8) | (acc >>> 8);
    i += words * 4;
  } else {
    const dv = new DataView(buf.buffer, off, n);
    const end4 = n - (n % 4);
    for (; i < end4; i += 4) {
      const w = dv.getUint32(i);
      sum += (w >>> 16) + (w & 0xffff);
      if (sum > 0x3fffffff) sum = (sum & 0xffff) + (sum >>> 16);
    }
  }
  for (; i + 1 < n; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < n) sum += buf[i]! << 8;
  return sum;
}

/** Fold a sum to 16 bits (end-around carry). */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return sum;
}

/** The checksum field value for a sum: one's complement of the folded sum. */
export const finish = (sum: number): number => (~fold(sum)) & 0xffff;

/** Internet checksum of a whole buffer. */
export const checksum = (buf: Uint8Array, initial = 0): number => finish(sum16(buf, initial));

/** Pseudo-header sum for IPv4 (RFC 9293 §3.1): src, dst, zero+protocol, length. */
export function pseudoSumV4(src: Uint8Array, dst: Uint8Array, proto: number, len: number): number {
  return sum16(src) + sum16(dst) + proto + len;
}

/** Pseudo-header sum for IPv6 (RFC 8200 §8.1): src, dst, 32-bit length, next header. */
export function pseudoSumV6(src: Uint8Array, dst: Uint8Array, proto: number, len: number): number {
  return sum16(src) + sum16(dst) + (len >>> 16) + (len & 0xffff) + proto;
}
