// The State Cookie (RFC 9260 §5.1.3): everything needed to create the association when the
// COOKIE ECHO comes back, so that nothing is kept between INIT and COOKIE ECHO (§5.1 "the
// receiver of INIT ... MUST NOT allocate any resources"), authenticated by HMAC-SHA-256 under
// a key derived from the per-stack secret, with a creation time and a lifespan.
//
// Layout (big-endian): "FC" 1 | created f64 | life u32 | myVtag myInitialTsn myTieTag peerTieTag
// u32 x4 | localPort remotePort udpPort(0 = none) u16 x3 | peerVtag peerRwnd u32 | peerOS peerMIS
// u16 | peerInitialTsn u32 | flags u8 (1 = peer supports PR-SCTP) | ourOS ourMIS u16 | src dst
// addresses | count u8 + peer addresses | MAC (32 bytes) over everything before it.
// Addresses are a family byte (4 or 6) and 4 or 16 bytes.
import { hmacSha256, macEqual } from '../crypto.ts';
import { ipToBytes, v4ToString, v6ToString } from '../wire/addr.ts';

/** What a cookie carries. Times are on the stack clock (ms). */
export interface CookieData {
  created: number;
  life: number;
  myVtag: number;
  myInitialTsn: number;
  myTieTag: number;
  peerTieTag: number;
  localPort: number;
  remotePort: number;
  udpPort: number | null;
  peerVtag: number;
  peerRwnd: number;
  peerOS: number;
  peerMIS: number;
  peerInitialTsn: number;
  peerPrSctp: boolean;
  ourOS: number;
  ourMIS: number;
  /** Source and destination of the INIT. */
  src: string;
  dst: string;
  /** Peer addresses listed in the INIT (usable ones, without `src`). */
  peerAddrs: string[];
}

const MAGIC0 = 0x46, MAGIC1 = 0x43, VERSION = 1, MAC_LEN = 32;

function addrLen(a: string): number { return a.includes(':') ? 17 : 5; }

function putAddr(out: Uint8Array, o: number, a: string): number {
  const b = ipToBytes(a);
  if (b === null) throw new RangeError(`cookie: bad address ${a}`);
  out[o] = b.length === 4 ? 4 : 6;
  out.set(b, o + 1);
  return o + 1 + b.length;
}

function getAddr(b: Uint8Array, o: number): [string, number] | null {
  if (o >= b.length) return null;
  const f = b[o]!;
  if (f === 4 && o + 5 <= b.length) return [v4ToString(b, o + 1), o + 5];
  if (f === 6 && o + 17 <= b.length) return [v6ToString(b, o + 1), o + 17];
  return null;
}

const FIXED = 3 + 8 + 4 + 16 + 6 + 8 + 4 + 4 + 1 + 4;

/** Serialize and MAC a cookie. */
export function encodeCookie(c: CookieData, key: Uint8Array): Uint8Array {
  let n = FIXED + addrLen(c.src) + addrLen(c.dst) + 1;
  const addrs = c.peerAddrs.slice(0, 255);
  for (const a of addrs) n += addrLen(a);
  const out = new Uint8Array(n + MAC_LEN);
  const dv = new DataView(out.buffer);
  out[0] = MAGIC0; out[1] = MAGIC1; out[2] = VERSION;
  dv.setFloat64(3, c.created);
  dv.setUint32(11, Math.min(c.life, 0xffffffff) >>> 0);
  dv.setUint32(15, c.myVtag >>> 0); dv.setUint32(19, c.myInitialTsn >>> 0);
  dv.setUint32(23, c.myTieTag >>> 0); dv.setUint32(27, c.peerTieTag >>> 0);
  dv.setUint16(31, c.localPort); dv.setUint16(33, c.remotePort); dv.setUint16(35, c.udpPort ?? 0);
  dv.setUint32(37, c.peerVtag >>> 0); dv.setUint32(41, c.peerRwnd >>> 0);
  dv.setUint16(45, c.peerOS); dv.setUint16(47, c.peerMIS);
  dv.setUint32(49, c.peerInitialTsn >>> 0);
  out[53] = c.peerPrSctp ? 1 : 0;
  dv.setUint16(54, c.ourOS); dv.setUint16(56, c.ourMIS);
  let o = putAddr(out, FIXED, c.src);
  o = putAddr(out, o, c.dst);
  out[o++] = addrs.length;
  for (const a of addrs) o = putAddr(out, o, a);
  out.set(hmacSha256(key, out.subarray(0, o)), o);
  return out;
}

/** Why a cookie was refused. */
export type CookieError = 'bad-mac' | 'malformed';

/**
 * Check the MAC (§5.1.5 step 1-2) and decode. The MAC is checked first and in constant time;
 * nothing of an unauthenticated cookie is looked at beyond its length.
 */
export function decodeCookie(b: Uint8Array, key: Uint8Array): CookieData | CookieError {
  if (b.length < FIXED + MAC_LEN + 11) return 'malformed';
  const body = b.subarray(0, b.length - MAC_LEN);
  if (!macEqual(hmacSha256(key, body), b.subarray(b.length - MAC_LEN))) return 'bad-mac';
  if (b[0] !== MAGIC0 || b[1] !== MAGIC1 || b[2] !== VERSION) return 'malformed';
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  const s = getAddr(body, FIXED);
  if (s === null) return 'malformed';
  const d = getAddr(body, s[1]);
  if (d === null || d[1] >= body.length) return 'malformed';
  let o = d[1];
  const cnt = body[o++]!;
  const peerAddrs: string[] = [];
  for (let i = 0; i < cnt; i++) {
    const a = getAddr(body, o);
    if (a === null) return 'malformed';
    peerAddrs.push(a[0]);
    o = a[1];
  }
  if (o !== body.length) return 'malformed';
  const udp = dv.getUint16(35);
  return {
    created: dv.getFloat64(3), life: dv.getUint32(11),
    myVtag: dv.getUint32(15), myInitialTsn: dv.getUint32(19), myTieTag: dv.getUint32(23), peerTieTag: dv.getUint32(27),
    localPort: dv.getUint16(31), remotePort: dv.getUint16(33), udpPort: udp === 0 ? null : udp,
    peerVtag: dv.getUint32(37), peerRwnd: dv.getUint32(41), peerOS: dv.getUint16(45), peerMIS: dv.getUint16(47),
    peerInitialTsn: dv.getUint32(49), peerPrSctp: body[53] === 1, ourOS: dv.getUint16(54), ourMIS: dv.getUint16(56),
    src: s[0], dst: d[0], peerAddrs,
  };
}
