// ARP (RFC 826) for Ethernet hardware and IPv4 protocol addresses, for TAP mode.
import type { Parsed } from './bytes.ts';
import { need, view } from './bytes.ts';
import type { IpAddr } from './addr.ts';
import { v4ToString } from './addr.ts';
import { writeV4 } from './addr-write.ts';
import type { Mac } from './ethernet.ts';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, MAC_BROADCAST, MAC_ZERO, buildEthernet, macToString, writeMac } from './ethernet.ts';

/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;
/** ar$hrd for Ethernet (RFC 826; IANA ARP "Hardware Types" 1). */
export const ARP_HTYPE_ETHERNET = 1;
/** ar$op values (RFC 826). */
export const ARP_REQUEST = 1, ARP_REPLY = 2;

/** Why an ARP packet was rejected. */
export type ArpError = 'truncated' | 'unsupported';

/** An Ethernet/IPv4 ARP packet (RFC 826 field names: ar$op, ar$sha, ar$spa, ar$tha, ar$tpa). */
export interface ArpPacket {
  /** 1 request, 2 reply; other values are kept as is. */
  op: number;
  sha: Mac;
  spa: IpAddr;
  tha: Mac;
  tpa: IpAddr;
}

/**
 * Parse an ARP packet. Only hardware type Ethernet (hlen 6) with protocol IPv4 (plen 4) is
 * supported (RFC 826: a receiver ignores pairs it does not speak); bytes after the 28 are link padding.
 */
export function parseArp(buf: Uint8Array): Parsed<ArpPacket, ArpError> {
  if (buf.length < 8) return { ok: false, error: 'truncated' };
  const dv = view(buf);
  if (dv.getUint16(0) !== ARP_HTYPE_ETHERNET || dv.getUint16(2) !== ETHERTYPE_IPV4 || buf[4] !== 6 || buf[5] !== 4) {
    return { ok: false, error: 'unsupported' };
  }
  if (buf.length < ARP_LEN) return { ok: false, error: 'truncated' };
  return {
    ok: true,
    value: { op: dv.getUint16(6), sha: macToString(buf, 8), spa: v4ToString(buf, 14), tha: macToString(buf, 18), tpa: v4ToString(buf, 24) },
  };
}

/** Bytes emitArp writes. */
export const arpBufferLen = (_a: ArpPacket): number => ARP_LEN;

/** Write `a` into out[0, 28); returns 28. Throws on malformed address text. */
export function emitArp(a: ArpPacket, out: Uint8Array): number {
  need(out, ARP_LEN, 'emitArp');
  const dv = view(out);
  dv.setUint16(0, ARP_HTYPE_ETHERNET);
  dv.setUint16(2, ETHERTYPE_IPV4);
  out[4] = 6;
  out[5] = 4;
  dv.setUint16(6, a.op);
  if (!writeMac(a.sha, out, 8) || !writeV4(a.spa, out, 14) || !writeMac(a.tha, out, 18) || !writeV4(a.tpa, out, 24)) {
    throw new RangeError(`emitArp: bad address in ${JSON.stringify(a)}`);
  }
  return ARP_LEN;
}

/** The reply to request `req` from the owner of `req.tpa` at `mac` (RFC 826 "Packet Reception": swap, fill in, op = reply). */
export function arpReply(req: ArpPacket, mac: Mac): ArpPacket {
  return { op: ARP_REPLY, sha: mac, spa: req.tpa, tha: req.sha, tpa: req.spa };
}

/** A request for the MAC of `tpa`, from `mac`/`spa`. */
export function arpRequest(mac: Mac, spa: IpAddr, tpa: IpAddr): ArpPacket {
  return { op: ARP_REQUEST, sha: mac, spa, tha: MAC_ZERO, tpa };
}

/**
 * A gratuitous ARP announcing `ip` at `mac`: a broadcast request with spa = tpa = ip and tha zero,
 * the ARP Announcement of RFC 5227 §2.3 (which Linux's arping -U also sends).
 */
export function gratuitousArp(mac: Mac, ip: IpAddr): ArpPacket {
  return { op: ARP_REQUEST, sha: mac, spa: ip, tha: MAC_ZERO, tpa: ip };
}

/**
 * A whole Ethernet frame carrying `a`: broadcast for requests, unicast to `a.tha` for replies.
 * Padded to `minLen` bytes (default 0: none; 60 for a real wire; a TAP device accepts 42).
 */
export function buildArpFrame(a: ArpPacket, minLen = 0): Uint8Array {
  const body = new Uint8Array(ARP_LEN);
  emitArp(a, body);
  return buildEthernet(a.op === ARP_REPLY ? a.tha : MAC_BROADCAST, a.sha, ETHERTYPE_ARP, body, null, minLen);
}
