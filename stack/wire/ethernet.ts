// Ethernet II framing (IEEE 802.3 clause 3.2.6 "Length/Type" ≥ 0x0600) with an optional single
// IEEE 802.1Q tag, for TAP mode. MAC addresses are lower-case "aa:bb:cc:dd:ee:ff" text.
import type { Parsed } from './bytes.ts';
import { need, view } from './bytes.ts';
import type { IpAddr } from './addr.ts';
import { writeV6 } from './addr-write.ts';

/** A MAC address as lower-case colon-separated text. */
export type Mac = string;

/** Header length without / with an 802.1Q tag (no FCS: TAP devices neither deliver nor expect it). */
export const ETH_HEADER_LEN = 14, ETH_VLAN_HEADER_LEN = 18;
/** Minimum frame length without FCS (IEEE 802.3: 64 with FCS); short frames are padded by the sender. */
export const ETH_MIN_FRAME = 60;
/** EtherType values used here. */
export const ETHERTYPE_IPV4 = 0x0800, ETHERTYPE_ARP = 0x0806, ETHERTYPE_VLAN = 0x8100, ETHERTYPE_IPV6 = 0x86dd;
/** The broadcast address. */
export const MAC_BROADCAST: Mac = 'ff:ff:ff:ff:ff:ff';
/** The all-zero address (ARP's unknown target hardware address). */
export const MAC_ZERO: Mac = '00:00:00:00:00:00';
/** Field offsets, for zero-copy peeks. */
export const ETH_OFF = { dst: 0, src: 6, type: 12 } as const;

/** Why a frame was rejected. */
export type EthernetError = 'truncated' | 'not-ethernet-ii';

/** An 802.1Q tag's Tag Control Information. */
export interface VlanTag {
  /** Priority Code Point (3 bits). */
  pcp: number;
  /** Drop Eligible Indicator. */
  dei: boolean;
  /** VLAN identifier (12 bits). */
  vid: number;
}

/** A parsed Ethernet II frame. `payload` is a view into the parsed buffer (link padding included). */
export interface EthernetFrame {
  dst: Mac;
  src: Mac;
  /** The single 802.1Q tag (TPID 0x8100) if present, else null; kept for exact re-emission. */
  vlan: VlanTag | null;
  /** EtherType of the payload (after the tag, if any). */
  ethertype: number;
  payload: Uint8Array;
}

const HEX = '0123456789abcdef';

/** MAC text from 6 bytes at `off`. */
export function macToString(b: Uint8Array, off = 0): Mac {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const x = b[off + i]!;
    s += (i > 0 ? ':' : '') + HEX[x >> 4]! + HEX[x & 15]!;
  }
  return s;
}

function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Write MAC text ("aa:bb:cc:dd:ee:ff", either case) at out[off]; false (nothing written past an error) if malformed. */
export function writeMac(s: string, out: Uint8Array, off: number): boolean {
  if (s.length !== 17) return false;
  for (let i = 0; i < 6; i++) {
    const hi = hexNibble(s.charCodeAt(3 * i)), lo = hexNibble(s.charCodeAt(3 * i + 1));
    if (hi < 0 || lo < 0 || (i < 5 && s.charCodeAt(3 * i + 2) !== 58)) return false;
  }
  for (let i = 0; i < 6; i++) out[off + i] = hexNibble(s.charCodeAt(3 * i)) * 16 + hexNibble(s.charCodeAt(3 * i + 1));
  return true;
}

/** The 6 bytes of MAC text, or null if malformed. */
export function parseMac(s: string): Uint8Array | null {
  const out = new Uint8Array(6);
  return writeMac(s, out, 0) ? out : null;
}

/** Canonical (lower-case) MAC text, or null if malformed. */
export function canonicalMac(s: string): Mac | null {
  const b = parseMac(s);
  return b === null ? null : macToString(b);
}

/** True for group (multicast or broadcast) addresses: I/G bit of the first octet (IEEE 802 §8.2). */
export function isMulticastMac(m: Mac): boolean {
  return (hexNibble(m.charCodeAt(1)) & 1) === 1;
}

/** Bytes emitEthernet writes for `f` (no padding to ETH_MIN_FRAME is added). */
export const ethernetBufferLen = (f: EthernetFrame): number => (f.vlan ? ETH_VLAN_HEADER_LEN : ETH_HEADER_LEN) + f.payload.length;

/**
 * Parse an Ethernet II frame. A Length/Type value below 0x0600 is an IEEE 802.3 length (LLC frame),
 * not an EtherType: rejected as 'not-ethernet-ii'. Only one 802.1Q tag is unwrapped; a second tag
 * (or an 802.1ad 0x88a8 outer tag) is left as the EtherType for the caller to ignore.
 */
export function parseEthernet(buf: Uint8Array): Parsed<EthernetFrame, EthernetError> {
  if (buf.length < ETH_HEADER_LEN) return { ok: false, error: 'truncated' };
  const dv = view(buf);
  let type = dv.getUint16(ETH_OFF.type), off = ETH_HEADER_LEN;
  let vlan: VlanTag | null = null;
  if (type === ETHERTYPE_VLAN) {
    if (buf.length < ETH_VLAN_HEADER_LEN) return { ok: false, error: 'truncated' };
    const tci = dv.getUint16(14);
    vlan = { pcp: tci >> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0x0fff };
    type = dv.getUint16(16);
    off = ETH_VLAN_HEADER_LEN;
  }
  if (type < 0x0600) return { ok: false, error: 'not-ethernet-ii' };
  return {
    ok: true,
    value: { dst: macToString(buf, 0), src: macToString(buf, 6), vlan, ethertype: type, payload: buf.subarray(off) },
  };
}

/** Write the header of `f` into `out`; returns the header length (14 or 18). The payload goes right after it. */
export function emitEthernetHeader(f: EthernetFrame, out: Uint8Array): number {
  const hl = f.vlan ? ETH_VLAN_HEADER_LEN : ETH_HEADER_LEN;
  need(out, hl, 'emitEthernet');
  if (!writeMac(f.dst, out, 0)) throw new RangeError(`emitEthernet: bad dst ${JSON.stringify(f.dst)}`);
  if (!writeMac(f.src, out, 6)) throw new RangeError(`emitEthernet: bad src ${JSON.stringify(f.src)}`);
  const dv = view(out);
  if (f.vlan) {
    dv.setUint16(12, ETHERTYPE_VLAN);
    dv.setUint16(14, ((f.vlan.pcp & 7) << 13) | (f.vlan.dei ? 0x1000 : 0) | (f.vlan.vid & 0x0fff));
    dv.setUint16(16, f.ethertype);
  } else {
    dv.setUint16(12, f.ethertype);
  }
  return hl;
}

/** Write `f` (header and payload) into out[0, ethernetBufferLen(f)); returns the byte count. */
export function emitEthernet(f: EthernetFrame, out: Uint8Array): number {
  const len = ethernetBufferLen(f);
  need(out, len, 'emitEthernet');
  const hl = emitEthernetHeader(f, out);
  out.set(f.payload, hl);
  return len;
}

/** Allocate a frame around `payload`, zero-padded to `minLen` (default 0: no padding; ETH_MIN_FRAME for a real wire). */
export function buildEthernet(dst: Mac, src: Mac, ethertype: number, payload: Uint8Array, vlan: VlanTag | null = null, minLen = 0): Uint8Array {
  const f: EthernetFrame = { dst, src, vlan, ethertype, payload };
  const len = ethernetBufferLen(f);
  const out = new Uint8Array(len < minLen ? minLen : len);
  emitEthernet(f, out);
  return out;
}

/** The MAC an IPv6 multicast address maps to (RFC 2464 §7: 33:33 then its low 32 bits); throws on bad text. */
export function ipv6MulticastMac(addr: IpAddr): Mac {
  const b = new Uint8Array(16);
  if (!writeV6(addr, b, 0)) throw new RangeError(`ipv6MulticastMac: bad address ${JSON.stringify(addr)}`);
  b[10] = 0x33; b[11] = 0x33;
  return macToString(b, 10);
}
