// One device, two stacks: the HA node runs a TCP Host and an SctpHost on the same TUN/TAP
// device, answering as the same service addresses. NodeMux splits what the device delivers
// (SCTP: IP protocol 132 or UDP to the encapsulation port, RFC 6951; everything else, ICMP
// included, to the TCP host) and merges what both send.
//
// It is also where a switch-over redirects: while `redirect` is set, a packet for a service
// address that belongs to no connection this node holds (live or frozen) — a new connection's
// SYN or INIT, or any packet of a connection already moved — is handed to `redirect` (sent to
// the standby over the hand-over link) instead of the local stacks, which would answer it with
// a RST or an ABORT.
import { connKey, peekPorts } from '../stack/demux.ts';
import { remoteKey } from '../stack/sctp/state.ts';
import { v4ToString, v6ToString } from '../stack/wire/addr.ts';
import type { Host, Link } from '../tun/driver.ts';
import type { SctpHost } from '../tun/sctp-socket.ts';

/** Where a packet goes. */
export type PacketClass = 'tcp' | 'sctp';

export interface PeekedPacket {
  cls: PacketClass;
  /** Transport protocol (6, 17, 132, 1, 58...) and where its header starts, or null (not parseable / fragment). */
  proto: number | null;
  l4: number;
  src: string;
  dst: string;
}

const IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_SCTP = 132;

/** Classify a raw IP packet without copying it. Never throws. */
export function peekPacket(p: Uint8Array, sctpUdpPort: number): PeekedPacket | null {
  if (p.length < 20) return null;
  const ver = p[0]! >> 4;
  if (ver === 4) {
    const ihl = (p[0]! & 0x0f) * 4;
    if (ihl < 20 || p.length < ihl) return null;
    const fragmented = ((p[6]! & 0x3f) << 8 | p[7]!) !== 0; // MF set or offset != 0
    const src = v4ToString(p, 12), dst = v4ToString(p, 16);
    if (fragmented) return { cls: 'tcp', proto: null, l4: ihl, src, dst };
    return classify(p, p[9]!, ihl, src, dst, sctpUdpPort);
  }
  if (ver === 6) {
    if (p.length < 40) return null;
    // Extension headers (fragments included) go to the TCP host, which reassembles and parses them.
    return classify(p, p[6]!, 40, v6ToString(p, 8), v6ToString(p, 24), sctpUdpPort);
  }
  return null;
}

function classify(p: Uint8Array, proto: number, l4: number, src: string, dst: string, sctpUdpPort: number): PeekedPacket {
  if (proto === IPPROTO_SCTP) return { cls: 'sctp', proto, l4, src, dst };
  if (proto === IPPROTO_UDP && sctpUdpPort !== 0 && p.length >= l4 + 8 && ((p[l4 + 2]! << 8) | p[l4 + 3]!) === sctpUdpPort) {
    return { cls: 'sctp', proto, l4, src, dst };
  }
  return { cls: 'tcp', proto, l4, src, dst };
}

/** One side of the mux, handed to a host as its Link. */
class SideLink implements Link {
  cb: ((pkts: Uint8Array[]) => void) | null = null;
  closed = false;
  constructor(private readonly mux: NodeMux) {}
  send(pkts: Uint8Array[]): void { if (!this.closed) this.mux.sendOut(pkts); }
  onReceive(cb: (pkts: Uint8Array[]) => void): void { this.cb = cb; }
  close(): void { this.closed = true; this.cb = null; this.mux.sideClosed(); }
}

export interface MuxStats {
  toTcp: number; toSctp: number; redirected: number; injected: number; unparseable: number; out: number;
}

export class NodeMux {
  readonly tcpLink: SideLink;
  readonly sctpLink: SideLink;
  readonly stats: MuxStats = { toTcp: 0, toSctp: 0, redirected: 0, injected: 0, unparseable: 0, out: 0 };
  /** Set during a switch-over: packets for no local connection go here. */
  redirect: ((pkt: Uint8Array) => void) | null = null;
  /** The hosts, to tell local connections from others (set once they exist). */
  tcpHost: Host | null = null;
  sctpHost: SctpHost | null = null;
  private readonly serviceIps: Set<string>;
  private open = 2;

  constructor(private readonly base: Link, serviceIps: readonly string[], readonly sctpUdpPort = 9899) {
    this.serviceIps = new Set(serviceIps);
    this.tcpLink = new SideLink(this);
    this.sctpLink = new SideLink(this);
    base.onReceive((pkts) => this.deliver(pkts, true));
  }

  /**
   * Continuous replication (migrate/replicate.ts): sees everything the stacks send and returns
   * what may leave now; it hands held packets back through sendRaw once the standby has the
   * state that produced them.
   */
  gate: { filter(pkts: Uint8Array[]): Uint8Array[] } | null = null;
  /** After a takeover: sees packets from the device first; true = consumed (replicate.ts Verifier). */
  inspect: ((pkt: Uint8Array) => boolean) | null = null;

  /** @internal */
  sendOut(pkts: Uint8Array[]): void {
    if (this.gate !== null) pkts = this.gate.filter(pkts);
    if (pkts.length === 0) return;
    this.stats.out += pkts.length;
    this.base.send(pkts);
  }

  /** Packets this node writes itself (tickles, released held packets): never held. */
  sendRaw(pkts: Uint8Array[]): void { this.stats.out += pkts.length; this.base.send(pkts); }

  /** @internal */
  sideClosed(): void { if (--this.open === 0) this.base.close(); }

  /** Packets redirected here by the other node: into the local stacks, never redirected again. */
  inject(pkts: Uint8Array[]): void {
    this.stats.injected += pkts.length;
    this.deliver(pkts, false);
  }

  /** Whether a peeked packet belongs to a connection or association held here (live or frozen). */
  isLocal(p: Uint8Array, k: PeekedPacket): boolean {
    if (k.proto === null) return true; // a fragment: the TCP host reassembles; not redirected
    if (k.proto === IPPROTO_TCP) {
      const ports = peekPorts(p.subarray(k.l4));
      const st = this.tcpHost?.state;
      if (ports === null || st === undefined) return true;
      const id = connKey(k.dst, ports.dst, k.src, ports.src);
      return st.tcp[id] !== undefined || st.frozen.conns[id] !== undefined || st.frozen.reserved[id] !== undefined;
    }
    if (k.cls === 'sctp') {
      const h = this.sctpHost;
      const off = k.proto === IPPROTO_UDP ? k.l4 + 8 : k.l4;
      const ports = peekPorts(p.subarray(off));
      if (ports === null || h === null) return true;
      const key = remoteKey(ports.dst, k.src, ports.src);
      return h.state.byRemote[key] !== undefined || h.frozen.byRemote[key] !== undefined;
    }
    return true; // ICMP and the rest stay here
  }

  private deliver(pkts: Uint8Array[], fromDevice: boolean): void {
    let tcp: Uint8Array[] | null = null, sctp: Uint8Array[] | null = null;
    const redirect = fromDevice ? this.redirect : null;
    const inspect = fromDevice ? this.inspect : null;
    for (const p of pkts) {
      const k = peekPacket(p, this.sctpUdpPort);
      if (k === null) { this.stats.unparseable++; (tcp ??= []).push(p); continue; }
      if (inspect !== null && k.proto === IPPROTO_TCP && inspect(p)) continue;
      if (redirect !== null && this.serviceIps.has(k.dst) && (k.proto === IPPROTO_TCP || k.cls === 'sctp') && !this.isLocal(p, k)) {
        this.stats.redirected++;
        redirect(p);
        continue;
      }
      if (k.cls === 'sctp') (sctp ??= []).push(p); else (tcp ??= []).push(p);
    }
    if (tcp !== null) { this.stats.toTcp += tcp.length; this.tcpLink.cb?.(tcp); }
    if (sctp !== null) { this.stats.toSctp += sctp.length; this.sctpLink.cb?.(sctp); }
  }
}
