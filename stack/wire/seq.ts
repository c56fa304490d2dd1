// uint32 serial-number arithmetic (RFC 1982 style) for TCP SEQ and SCTP TSN.

/** A uint32 sequence number, always normalised to 0..2^32-1. */
export type Seq = number;
/** a + n modulo 2^32. */
export const seqAdd = (a: Seq, n: number): Seq => (a + n) >>> 0;
/** Signed distance b - a, in -2^31..2^31-1. */
export const seqDiff = (b: Seq, a: Seq): number => (b - a) | 0;
/** a < b in serial arithmetic. */
export const seqLt = (a: Seq, b: Seq): boolean => ((a - b) | 0) < 0;
/** a <= b in serial arithmetic. */
export const seqLe = (a: Seq, b: Seq): boolean => ((a - b) | 0) <= 0;
/** a > b in serial arithmetic. */
export const seqGt = (a: Seq, b: Seq): boolean => ((a - b) | 0) > 0;
/** a >= b in serial arithmetic. */
export const seqGe = (a: Seq, b: Seq): boolean => ((a - b) | 0) >= 0;
/** lo <= v < hi (modulo 2^32). */
export const seqInRange = (v: Seq, lo: Seq, hi: Seq): boolean => ((v - lo) >>> 0) < ((hi - lo) >>> 0);
/** The later of two sequence numbers. */
export const seqMax = (a: Seq, b: Seq): Seq => (seqGt(a, b) ? a : b);
/** The earlier of two sequence numbers. */
export const seqMin = (a: Seq, b: Seq): Seq => (seqLt(a, b) ? a : b);
