// A small seedable PRNG whose whole state is plain data, so a simulation is reproducible
// from its seed and its random streams can be snapshotted (JSON, structuredClone, the codec).
//
// Generator: xoshiro128** 1.1 (Blackman & Vigna, https://prng.di.unimi.it/xoshiro128starstar.c):
// 128 bits of state, period 2^128 − 1, passes BigCrush, four xors/shifts and two multiplies
// per output. Seeding: four outputs of splitmix32, i.e. a golden-ratio Weyl sequence run
// through MurmurHash3's fmix32 finaliser (a bijection, so the four words are distinct and the
// state is never all zero). Every function here mutates the state it is handed in place and
// keeps nothing anywhere else.

/** The whole generator state: four uint32 words. Plain data: JSON round-trips it exactly. */
export interface PrngState { s: [number, number, number, number] }

const GOLDEN = 0x9e3779b9; // 2^32 / φ, the splitmix increment
const TWO_POW_NEG_32 = 2 ** -32;

/** MurmurHash3 fmix32: a bijective avalanche mix of a uint32. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Fresh state from a uint32 seed (an integer in [0, 2^32)); throws on anything else. */
export function prngInit(seed: number): PrngState {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`prng seed must be a uint32, got ${seed}`);
  let x = seed >>> 0;
  const w = (): number => { x = (x + GOLDEN) >>> 0; return fmix32(x); };
  return { s: [w(), w(), w(), w()] };
}

/** Next uint32 in [0, 2^32); advances `st`. */
export function nextU32(st: PrngState): number {
  const s = st.s;
  const s0 = s[0], s1 = s[1], s2 = s[2] ^ s0, s3 = s[3] ^ s1;
  const m = Math.imul(s1, 5);
  const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
  s[0] = (s0 ^ s3) >>> 0;
  s[1] = (s1 ^ s2) >>> 0;
  s[2] = (s2 ^ (s1 << 9)) >>> 0;
  s[3] = ((s3 << 11) | (s3 >>> 21)) >>> 0;
  return result;
}

/** Next float in [0, 1) with 32 bits of resolution; advances `st`. */
export function nextFloat(st: PrngState): number {
  return nextU32(st) * TWO_POW_NEG_32;
}

/**
 * Uniform integer in [lo, hiExclusive), without modulo bias (rejection sampling).
 * The range must be 1 … 2^32 wide; throws otherwise (programmer error).
 */
export function nextInt(st: PrngState, lo: number, hiExclusive: number): number {
  const range = hiExclusive - lo;
  if (!Number.isInteger(lo) || !Number.isInteger(hiExclusive) || range < 1 || range > 2 ** 32) {
    throw new RangeError(`nextInt: bad range [${lo}, ${hiExclusive})`);
  }
  // Largest multiple of `range` not above 2^32: values at or past it would bias the low results.
  const limit = 2 ** 32 - (2 ** 32 % range);
  let u = nextU32(st);
  while (u >= limit) u = nextU32(st);
  return lo + (u % range);
}

/** True with probability p (p ≤ 0: never, p ≥ 1: always); advances `st` only when 0 < p < 1. */
export function chance(st: PrngState, p: number): boolean {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return nextU32(st) * TWO_POW_NEG_32 < p;
}

/** 32-bit FNV-1a over the UTF-16 code units of `label`, then fmix32. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return fmix32(h >>> 0);
}

/**
 * An independent substream named `label`. Does NOT advance `st`: the child is a pure function
 * of (parent state, label), so creating more substreams (say, one per added link) never changes
 * the sequence of another, and forking the same label twice yields the same stream.
 */
export function fork(st: PrngState, label: string | number): PrngState {
  const h = hashLabel(String(label));
  const p = st.s;
  const out: [number, number, number, number] = [0, 0, 0, 0];
  let k = h;
  for (let i = 0; i < 4; i++) {
    k = fmix32((k + GOLDEN) >>> 0);
    // fmix32 is a bijection: distinct (parent word ^ key) give distinct child words.
    out[i] = fmix32((p[i]! ^ k) >>> 0);
  }
  if ((out[0] | out[1] | out[2] | out[3]) === 0) out[0] = GOLDEN; // xoshiro must never be all zero
  return { s: out };
}

/** A deep copy of `st` (the copy and the original then advance independently). */
export function prngClone(st: PrngState): PrngState {
  return { s: [st.s[0], st.s[1], st.s[2], st.s[3]] };
}
