// The Link between a Host (tun/driver.ts) and a real TUN or TAP device (tun/device.ts).
//
// Receive: the device hands over a whole read batch (views into its reused arena); the link
// records them (pcap), answers what the host answers below TCP (ICMP echo; on a TAP also ARP
// and IPv6 Neighbour Solicitation), and passes the rest to the host as ONE batch, in the same
// call. No copy is made: Host.input steps every packet synchronously and the stack copies what
// it keeps (stack/api.ts, 'packet'), so the views are never used after the callback returns.
// Anything that holds packets longer (tun/impair.ts) copies them itself.
//
// Send: the stack's packets (fresh buffers owned by the link) go to the device with one
// writeMany per batch. On a TAP each gets an Ethernet header addressed from a small neighbour
// cache (plain object, learnt from ARP and from the source of received frames), falling back to
// the kernel interface's MAC: a TAP has exactly one neighbour, the kernel.
//
// The pcap sees what crosses the device, in both directions: on a TUN raw IP (LINKTYPE 101),
// on a TAP whole Ethernet frames (LINKTYPE 1, so ARP is recorded too).
import { echoReply, maybeIcmp } from '../stack/icmp-echo.ts';
import { canonicalIp, isV6, parseV4, parseV6 } from '../stack/wire/addr.ts';
import { ARP_REPLY, ARP_REQUEST, arpReply, arpRequest, buildArpFrame, gratuitousArp, parseArp } from '../stack/wire/arp.ts';
import {
  ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HEADER_LEN, buildEthernet, canonicalMac, isMulticastMac,
  macToString, parseEthernet, writeMac, ipv6MulticastMac,
} from '../stack/wire/ethernet.ts';
import type { Mac } from '../stack/wire/ethernet.ts';
import { emitIcmpv6, icmpv6BufferLen, parseIcmpv6 } from '../stack/wire/icmp.ts';
import type { Icmpv6Message } from '../stack/wire/icmp.ts';
import { finish, fold, sum16 } from '../stack/wire/checksum.ts';
import { ipPseudoSum, parseIp } from '../stack/wire/ip.ts';
import { buildIpv6 } from '../stack/wire/ipv6.ts';
import { LINKTYPE } from './pcap.ts';
import type { Link } from './driver.ts';
import type { TunDevice } from './device.ts';
import type { PcapWriter } from './pcap-writer.ts';

export interface TunLinkOptions {
  /** The stack's own addresses (canonical text): ICMP echo, ARP and NDP answer for these. */
  addresses: readonly string[];
  /** Answer ICMP/ICMPv6 echo requests to our addresses (default true). */
  echo?: boolean;
  /** Record every packet or frame in and out (LINKTYPE 101 on a TUN, 1 on a TAP). Flushed, not closed, by close(). */
  pcap?: PcapWriter | null;
  /** TAP only: our MAC (default: a locally administered 02:fe:… derived from the first address). */
  mac?: string;
  /** TTL / hop limit of the replies the link itself sends (default 64). */
  ttl?: number;
  /** close() closes the device too (default true: the link owns it). */
  ownsDevice?: boolean;
  /**
   * Offload (a TUN opened with `offload`): the segment size the kernel cuts a TCP super-segment
   * (a packet longer than the device MTU, StackConfig.tsoSegments) into, i.e. the connection's
   * MSS before TCP options; `pkt` is the super-segment (an IP packet). Default: the device MTU
   * minus the IP and TCP headers.
   */
  gsoBase?: (pkt: Uint8Array) => number | null;
}

/** Counters of a TunLink. */
export interface TunLinkStats {
  /** IP packets handed to the host / written for it. */
  packetsIn: number; packetsOut: number;
  /** Echo requests answered. */
  echoReplies: number;
  /** TAP: ARP requests answered, ARP packets sent (replies, requests, announcements), NDP advertisements sent. */
  arpReplies: number; arpSent: number; ndpAdverts: number;
  /** Frames or packets ignored (not for us, not IP, malformed link header). */
  ignored: number;
  /** TAP: packets dropped for want of a destination MAC (an ARP request went out instead). */
  noNeighbour: number;
}

/** Most neighbour entries kept (a TAP has one neighbour; this only bounds a flood). */
const MAX_NEIGHBOURS = 1024;

export class TunLink implements Link {
  readonly dev: TunDevice;
  readonly mode: 'tun' | 'tap';
  /** TAP: our MAC; null on a TUN. */
  readonly mac: Mac | null;
  /** TAP neighbour cache: IP address (canonical text) → MAC. Plain data. */
  neighbours: Record<string, Mac> = {};
  readonly stats: TunLinkStats = { packetsIn: 0, packetsOut: 0, echoReplies: 0, arpReplies: 0, arpSent: 0, ndpAdverts: 0, ignored: 0, noNeighbour: 0 };
  /**
   * TAP: answer ARP requests and IPv6 neighbour solicitations for our addresses (default true).
   * An HA standby sharing the service addresses turns it off until it becomes active
   * (migrate/node.ts), so only one node claims them on the segment.
   */
  answerArp = true;

  private readonly addresses: readonly string[];
  private readonly v4: readonly string[];
  private readonly echo: boolean;
  private readonly pcap: PcapWriter | null;
  private readonly ttl: number;
  private readonly ownsDevice: boolean;
  /** The device was opened with offload: every packet carries a virtio_net_hdr (tun/device.ts). */
  private readonly vnet: boolean;
  private readonly gsoBase: ((pkt: Uint8Array) => number | null) | null;
  private readonly macBytes: Uint8Array | null;
  /** The kernel interface's MAC bytes (TAP), the default destination. */
  private readonly kernelMac: Uint8Array | null;
  private cb: ((pkts: Uint8Array[]) => void) | null = null;
  private closed = false;

  constructor(dev: TunDevice, opts: TunLinkOptions) {
    if (dev.vnetHdrLen !== 0 && dev.vnetHdrLen !== VNET_HDR_LEN) throw new Error(`TunLink: unexpected virtio-net header length ${dev.vnetHdrLen}`);
    if (dev.vnetHdrLen !== 0 && dev.mode === 'tap') throw new Error('TunLink: offload (virtio-net header) is supported on a TUN only');
    const addresses: string[] = [];
    for (const a of opts.addresses) {
      const c = canonicalIp(a);
      if (c === null) throw new TypeError(`TunLink: bad address ${JSON.stringify(a)}`);
      addresses.push(c);
    }
    if (addresses.length === 0) throw new TypeError('TunLink: at least one address is required');
    this.dev = dev;
    this.mode = dev.mode;
    this.addresses = addresses;
    this.v4 = addresses.filter((a) => !isV6(a));
    this.echo = opts.echo ?? true;
    this.pcap = opts.pcap ?? null;
    this.ttl = opts.ttl ?? 64;
    this.ownsDevice = opts.ownsDevice ?? true;
    this.vnet = dev.vnetHdrLen !== 0;
    this.gsoBase = opts.gsoBase ?? null;
    if (this.pcap !== null) {
      const want = dev.mode === 'tap' ? LINKTYPE.EN10MB : LINKTYPE.RAW;
      if (this.pcap.linkType !== want) throw new Error(`TunLink: a ${dev.mode.toUpperCase()} records LINKTYPE ${want}, the pcap writer has ${this.pcap.linkType}`);
    }
    if (dev.mode === 'tap') {
      const mac = opts.mac === undefined ? defaultMac(addresses[0]!) : canonicalMac(opts.mac);
      if (mac === null) throw new TypeError(`TunLink: bad MAC ${JSON.stringify(opts.mac)}`);
      if (isMulticastMac(mac)) throw new TypeError(`TunLink: MAC ${mac} is a group address`);
      this.mac = mac;
      this.macBytes = new Uint8Array(6);
      writeMac(mac, this.macBytes, 0);
      this.kernelMac = dev.mac === null ? null : new Uint8Array(6);
      if (dev.mac !== null) writeMac(dev.mac, this.kernelMac!, 0);
    } else {
      this.mac = null;
      this.macBytes = null;
      this.kernelMac = null;
    }
    dev.onPackets(this.mode === 'tun' ? this.onTunPackets : this.onTapFrames);
  }

  // ------------------------------------------------------------------------------ Link

  onReceive(cb: (pkts: Uint8Array[]) => void): void {
    this.cb = cb;
  }

  send(pkts: Uint8Array[]): void {
    if (this.closed || pkts.length === 0) return;
    this.stats.packetsOut += pkts.length;
    if (this.mode === 'tun') {
      const pcap = this.pcap;
      if (pcap !== null) for (const p of pkts) pcap.write(p);
      this.dev.writeMany(this.vnet ? pkts.map(this.toVnet) : pkts);
      return;
    }
    const frames: Uint8Array[] = [];
    for (const p of pkts) {
      const f = this.frame(p);
      if (f !== null) frames.push(f);
    }
    this.writeFrames(frames);
  }

  /** Stop: no more reads or writes; flushes the pcap; closes the device unless `ownsDevice` was false. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cb = null;
    if (!this.dev.closed) {
      this.dev.onPackets(null);
      if (this.ownsDevice) this.dev.close();
    }
    this.pcap?.flush();
  }

  /**
   * TAP: announce our IPv4 addresses with gratuitous ARP (RFC 5227 §2.3 ARP Announcement), so
   * the kernel's neighbour table learns (or updates) our MAC at once. No-op on a TUN.
   */
  announce(): void {
    if (this.mode !== 'tap' || this.closed || !this.answerArp) return;
    const frames = this.v4.map((a) => buildArpFrame(gratuitousArp(this.mac!, a)));
    this.stats.arpSent += frames.length;
    this.writeFrames(frames);
  }

  // ------------------------------------------------------------------------------ TUN

  private readonly onTunPackets = (raw: Uint8Array[]): void => {
    if (this.closed) return;
    const pkts = this.vnet ? raw.map(fromVnet) : raw;
    const pcap = this.pcap;
    if (pcap !== null) for (const p of pkts) pcap.write(p);
    // Copy-on-find: the common batch (all TCP) is passed on as it is.
    let fwd: Uint8Array[] | null = null;
    for (let i = 0; i < pkts.length; i++) {
      const p = pkts[i]!;
      const reply = this.echo && maybeIcmp(p) ? echoReply(p, this.addresses, this.ttl) : null;
      if (reply !== null) {
        fwd ??= pkts.slice(0, i);
        this.stats.echoReplies++;
        if (pcap !== null) pcap.write(reply);
        this.dev.write(this.vnet ? this.toVnet(reply) : reply);
      } else if (fwd !== null) {
        fwd.push(p);
      }
    }
    this.deliver(fwd ?? pkts);
  };

  /**
   * `p` behind a virtio_net_hdr. A packet that fits the MTU gets an all-zero header (complete
   * checksums, no GSO). A longer TCP packet is a super-segment (StackConfig.tsoSegments): the
   * header asks the kernel to treat it as GSO TCP with segments of `gso_size` payload bytes, and
   * its checksum becomes partial (VIRTIO_NET_HDR_F_NEEDS_CSUM with the pseudo-header sum in the
   * field), exactly as the kernel hands its own TSO packets to a device. Delivered locally the
   * kernel takes it whole (as GRO would have built it); forwarded, it is cut into segments.
   */
  private readonly toVnet = (p: Uint8Array): Uint8Array => {
    const out = new Uint8Array(VNET_HDR_LEN + p.length);
    out.set(p, VNET_HDR_LEN);
    if (p.length <= this.dev.mtu) return out;
    const v = p[0]! >> 4;
    const ihl = v === 4 ? (p[0]! & 0x0f) * 4 : 40;
    const proto = v === 4 ? p[9] : p[6];
    if (proto !== 6 || p.length < ihl + 20) return out; // not TCP: the kernel drops what exceeds the MTU
    const thl = (p[ihl + 12]! >> 4) * 4;
    const base = this.gsoBase?.(p) ?? this.dev.mtu - ihl - 20;
    const gso = Math.max(1, base - (thl - 20));
    // Pseudo-header sum (RFC 9293 §3.1 / RFC 8200 §8.1) of the whole super-segment, folded, not complemented.
    const tcpLen = p.length - ihl;
    let s = 6 + (tcpLen >>> 16) + (tcpLen & 0xffff);
    const a0 = v === 4 ? 12 : 8, a1 = v === 4 ? 20 : 40;
    for (let i = a0; i < a1; i += 2) s += (p[i]! << 8) | p[i + 1]!;
    const sum = fold(s);
    const ip = out.subarray(VNET_HDR_LEN);
    ip[ihl + 16] = sum >> 8;
    ip[ihl + 17] = sum & 0xff;
    // struct virtio_net_hdr, host byte order (little-endian): flags, gso_type, hdr_len, gso_size, csum_start, csum_offset.
    out[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    out[1] = v === 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
    const hdrLen = ihl + thl;
    out[2] = hdrLen & 0xff; out[3] = hdrLen >> 8;
    out[4] = gso & 0xff; out[5] = gso >> 8;
    out[6] = ihl & 0xff; out[7] = ihl >> 8;
    out[8] = 16; out[9] = 0;
    return out;
  };

  private deliver(pkts: Uint8Array[]): void {
    if (pkts.length === 0 || this.cb === null) return;
    this.stats.packetsIn += pkts.length;
    this.cb(pkts);
  }

  // ------------------------------------------------------------------------------ TAP

  private readonly onTapFrames = (frames: Uint8Array[]): void => {
    if (this.closed) return;
    const pcap = this.pcap;
    const ip: Uint8Array[] = [];
    const replies: Uint8Array[] = [];
    for (const f of frames) {
      if (pcap !== null) pcap.write(f);
      const e = parseEthernet(f);
      if (!e.ok || e.value.vlan !== null) { this.stats.ignored++; continue; }
      const fr = e.value;
      if (fr.ethertype === ETHERTYPE_ARP) { this.arpIn(fr.payload, replies); continue; }
      if (fr.ethertype !== ETHERTYPE_IPV4 && fr.ethertype !== ETHERTYPE_IPV6) { this.stats.ignored++; continue; }
      // Unicast frames for another station are not ours (a TAP normally sees none).
      if (!isMulticastMac(fr.dst) && fr.dst !== this.mac) { this.stats.ignored++; continue; }
      const pkt = fr.payload;
      this.learnFromIp(pkt, fr.src);
      if (fr.ethertype === ETHERTYPE_IPV6 && this.ndpIn(pkt, replies)) continue;
      if (this.echo && maybeIcmp(pkt)) {
        const r = echoReply(pkt, this.addresses, this.ttl);
        if (r !== null) {
          this.stats.echoReplies++;
          const out = this.frame(r);
          if (out !== null) replies.push(out);
          continue;
        }
      }
      ip.push(pkt);
    }
    if (replies.length > 0) this.writeFrames(replies);
    this.deliver(ip);
  };

  /** RFC 826 "Packet Reception": merge the sender into the cache; answer requests for our addresses. */
  private arpIn(body: Uint8Array, out: Uint8Array[]): void {
    const a = parseArp(body);
    if (!a.ok) { this.stats.ignored++; return; }
    const arp = a.value;
    const forUs = this.v4.includes(arp.tpa);
    // RFC 826: update an existing entry always; add a new one only when we are the target.
    if (arp.spa !== '0.0.0.0' && (forUs || this.neighbours[arp.spa] !== undefined)) this.learn(arp.spa, arp.sha);
    // A standby sharing the address learns but does not answer (answerArp).
    if (forUs && this.answerArp && arp.op === ARP_REQUEST && arp.spa !== arp.tpa) {
      out.push(buildArpFrame(arpReply(arp, this.mac!)));
      this.stats.arpReplies++;
      this.stats.arpSent++;
    } else if (arp.op !== ARP_REPLY && arp.op !== ARP_REQUEST) {
      this.stats.ignored++;
    }
  }

  /** IPv6 Neighbour Solicitation for one of our addresses → solicited Neighbour Advertisement (RFC 4861 §7.2.4). */
  private ndpIn(pkt: Uint8Array, out: Uint8Array[]): boolean {
    if (pkt.length < 48 || pkt[6] !== 58) return false;
    const p = parseIp(pkt);
    if (!p.ok || p.value.version !== 6 || p.value.protocol !== 58) return false;
    const ip = p.value;
    if (ip.payload[0] !== 135) return false;
    const m = parseIcmpv6(ip.payload, ipPseudoSum(ip.src, ip.dst, 58, ip.payload.length));
    if (!m.ok || m.value.kind !== 'neighbor-solicitation') return true;
    const ns = m.value;
    // RFC 4861 §7.1.1: hop limit 255, code 0, target not multicast.
    if (ip.hopLimit !== 255 || ns.code !== 0 || !this.answerArp || !this.addresses.includes(ns.target)) return true;
    const sll = ns.options.find((o) => o.kind === 'source-lladdr');
    const unspecified = ip.src === '::';
    if (sll !== undefined && sll.kind === 'source-lladdr' && !unspecified) this.learn(ip.src, sll.mac);
    // §7.2.4: to the solicitation's source, or all-nodes when it came from the unspecified address (DAD).
    const dst = unspecified ? 'ff02::1' : ip.src;
    const na: Icmpv6Message = {
      kind: 'neighbor-advertisement', code: 0, router: false, solicited: !unspecified, override: true, reserved: 0,
      target: ns.target, options: [{ kind: 'target-lladdr', mac: this.mac! }],
    };
    const len = icmpv6BufferLen(na);
    const body = new Uint8Array(len);
    emitIcmpv6(na, body, ipPseudoSum(ns.target, dst, 58, len));
    const reply = buildIpv6(ns.target, dst, 58, body, { hopLimit: 255 });
    const dstMac = unspecified ? ipv6MulticastMac(dst) : sll !== undefined && sll.kind === 'source-lladdr' ? sll.mac : this.neighbours[ip.src] ?? null;
    if (dstMac === null) return true;
    out.push(buildEthernet(dstMac, this.mac!, ETHERTYPE_IPV6, reply));
    this.stats.ndpAdverts++;
    return true;
  }

  /** Remember the MAC of an IP sender seen in a frame addressed to us. */
  private learnFromIp(pkt: Uint8Array, mac: Mac): void {
    if (isMulticastMac(mac)) return;
    const v = pkt.length > 0 ? pkt[0]! >> 4 : 0;
    let src: string | null = null;
    if (v === 4 && pkt.length >= 20) src = `${pkt[12]}.${pkt[13]}.${pkt[14]}.${pkt[15]}`;
    else if (v === 6 && pkt.length >= 40) {
      const p = parseIp(pkt);
      if (p.ok) src = p.value.src;
    }
    if (src !== null && this.neighbours[src] !== mac) this.learn(src, mac);
  }

  private learn(ip: string, mac: Mac): void {
    if (this.neighbours[ip] === undefined && Object.keys(this.neighbours).length >= MAX_NEIGHBOURS) this.neighbours = {};
    this.neighbours[ip] = mac;
  }

  /** An Ethernet frame around IP packet `p`, or null (no MAC known: an ARP request goes out instead). */
  private frame(p: Uint8Array): Uint8Array | null {
    const v = p[0]! >> 4;
    const dst = v === 4 ? `${p[16]}.${p[17]}.${p[18]}.${p[19]}` : v === 6 && p.length >= 40 ? ipv6Dst(p) : null;
    let dmac: Uint8Array | null = null;
    if (dst !== null) {
      const known = this.neighbours[dst];
      if (known !== undefined) { dmac = new Uint8Array(6); writeMac(known, dmac, 0); }
      else if (v === 6 && dst.startsWith('ff')) { dmac = new Uint8Array(6); writeMac(ipv6MulticastMac(dst), dmac, 0); }
    }
    dmac ??= this.kernelMac;
    if (dmac === null) {
      this.stats.noNeighbour++;
      // A standby (answerArp off) must not ask: its request would announce the shared address.
      if (v === 4 && dst !== null && this.v4.length > 0 && this.answerArp) {
        this.stats.arpSent++;
        this.writeFrames([buildArpFrame(arpRequest(this.mac!, this.v4[0]!, dst))]);
      }
      return null;
    }
    const f = new Uint8Array(ETH_HEADER_LEN + p.length);
    f.set(dmac, 0);
    f.set(this.macBytes!, 6);
    f[12] = v === 6 ? 0x86 : 0x08;
    f[13] = v === 6 ? 0xdd : 0x00;
    f.set(p, ETH_HEADER_LEN);
    return f;
  }

  private writeFrames(frames: Uint8Array[]): void {
    if (frames.length === 0 || this.closed) return;
    const pcap = this.pcap;
    if (pcap !== null) for (const f of frames) pcap.write(f);
    this.dev.writeMany(frames);
  }
}

/** Length of struct virtio_net_hdr (no mergeable buffers), which TUN offload prefixes to every packet. */
const VNET_HDR_LEN = 10;
/** virtio_net_hdr.flags: the checksum from csum_start to the end is still to be computed (the field holds the pseudo-header sum). */
const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
/** virtio_net_hdr.gso_type values (linux/virtio_net.h). */
const VIRTIO_NET_HDR_GSO_TCPV4 = 1, VIRTIO_NET_HDR_GSO_TCPV6 = 4;

/**
 * The IP packet after a virtio_net_hdr, with its transport checksum completed when the kernel
 * left it partial (VIRTIO_NET_HDR_F_NEEDS_CSUM: RFC 1071 sum from csum_start to the end, which
 * includes the pseudo-header sum the kernel put in the field, complemented and stored at
 * csum_start + csum_offset). A GSO packet (a TCP segment of up to 64 KB) is delivered whole:
 * the stack takes any segment that fits its window. Modifies the device buffer in place.
 */
function fromVnet(p: Uint8Array): Uint8Array {
  const ip = p.subarray(VNET_HDR_LEN);
  if ((p[0]! & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
    // The header is in the host's byte order (little-endian here; TUNSETVNETLE not needed on x86/arm64).
    const start = p[6]! | (p[7]! << 8), field = start + (p[8]! | (p[9]! << 8));
    if (field + 2 <= ip.length) {
      const c = finish(sum16(ip.subarray(start)));
      ip[field] = c >> 8;
      ip[field + 1] = c & 0xff;
    }
  }
  return ip;
}


/** Destination address text of an IPv6 packet (bytes 24..40). */
function ipv6Dst(p: Uint8Array): string | null {
  const r = parseIp(p, false);
  return r.ok ? r.value.dst : null;
}

/** A locally administered unicast MAC (IEEE 802 §8.2: bit 1 of octet 0 set, bit 0 clear) derived from `addr`. */
export function defaultMac(addr: string): Mac {
  const b = isV6(addr) ? parseV6(addr) : parseV4(addr);
  const t = b === null ? new Uint8Array(4) : b.subarray(b.length - 4);
  return macToString(new Uint8Array([0x02, 0xfe, t[0]!, t[1]!, t[2]!, t[3]!]));
}

