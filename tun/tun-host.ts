// One call from "a CIDR for the kernel side and an address for ferry" to a running Host on a
// fresh TUN/TAP device: device, pcap recording, impairment, the link and the driver, wired in
// that order (Host → ImpairLink → TunLink → TunDevice; the pcap sits at the device, so it
// shows what really crossed it). Used by the CLI services (bin/services.ts), the kernel tests
// and the benchmark.
import { connKey } from '../stack/demux.ts';
import { canonicalIp, isV6, parseV4, parseV6, v4ToString, v6ToString } from '../stack/wire/addr.ts';
import { openTun } from './device.ts';
import type { TunDevice } from './device.ts';
import { Host } from './driver.ts';
import type { HostConfig } from './driver.ts';
import { ImpairLink, parseImpair } from './impair.ts';
import type { ImpairSpec } from './impair.ts';
import { LINKTYPE } from './pcap.ts';
import { PcapWriter } from './pcap-writer.ts';
import { TunLink } from './tun-link.ts';

export interface TunHostOptions {
  /** The kernel side's address in CIDR form, e.g. '10.88.0.1/24'. */
  tun: string;
  /** The address ferry answers as, e.g. '10.88.0.2'. Routed into the device (a /32 or /128 route if outside the prefix). */
  ip: string;
  /** 'tap': Ethernet, ferry answers ARP (default 'tun'). */
  mode?: 'tun' | 'tap';
  /** Device name (default: the kernel's tun%d / tap%d). */
  name?: string;
  /** Network namespace for the device (must exist; default this process's). */
  netns?: string;
  mtu?: number;
  /** Kernel→ferry queue in packets (default 1000; the kernel's 500 drops under bursts). */
  txqueuelen?: number;
  /**
   * TUN offload (virtio-net header, TSO/GSO) both ways: the kernel may hand over TCP segments of
   * up to 64 KB with partial checksums, which the link completes; the stack sends super-segments
   * of up to `tsoSegments` MSS (default 40 with offload) that the kernel takes whole. TUN only.
   */
  offload?: boolean;
  /** Record every packet in and out to this file (classic pcap). */
  pcap?: string | null;
  /** Impairment: a spec string (tun/impair.ts) or a parsed spec; null/undefined: none. */
  impair?: string | ImpairSpec | null;
  /** Stack settings (the TCP MTU defaults to the device's). */
  config?: HostConfig;
  /** 32 bytes of stack secret (default: random). */
  secret?: Uint8Array;
}

export interface TunHost {
  host: Host;
  dev: TunDevice;
  link: TunLink;
  impair: ImpairLink | null;
  pcap: PcapWriter | null;
  /** The stack's address (canonical) and the kernel side's. */
  ip: string;
  kernelIp: string;
  /** Stop the driver, close the device (deleting it), flush and close the pcap. Idempotent. */
  close(): void;
}

/** A parsed CIDR: canonical address, prefix length, family. */
export interface Cidr { addr: string; prefix: number; v6: boolean }

/** Parse 'a.b.c.d/n' or 'x::y/n'; throws a TypeError saying what is wrong. */
export function parseCidr(text: string): Cidr {
  const m = /^([^/\s]+)\/(\d{1,3})$/.exec(text ?? '');
  if (m === null) throw new TypeError(`"${text}" is not an address in CIDR form (e.g. 10.88.0.1/24)`);
  const addr = canonicalIp(m[1]!);
  if (addr === null) throw new TypeError(`"${text}": "${m[1]}" is not an IPv4 or IPv6 address`);
  const v6 = isV6(addr);
  const prefix = Number(m[2]);
  if (prefix > (v6 ? 128 : 32)) throw new TypeError(`"${text}": prefix length ${prefix} is more than ${v6 ? 128 : 32}`);
  return { addr, prefix, v6 };
}

/** Whether `addr` lies in `c`'s prefix. */
export function inPrefix(c: Cidr, addr: string): boolean {
  const a = c.v6 ? parseV6(c.addr) : parseV4(c.addr);
  const b = c.v6 ? parseV6(addr) : parseV4(addr);
  if (a === null || b === null) return false;
  for (let bit = 0; bit < c.prefix; bit++) {
    const mask = 0x80 >> (bit & 7);
    if ((a[bit >> 3]! & mask) !== (b[bit >> 3]! & mask)) return false;
  }
  return true;
}

/** Check the kernel CIDR and ferry's address together; returns both parsed, or throws a TypeError. */
export function checkAddresses(tun: string, ip: string): { cidr: Cidr; ip: string } {
  const cidr = parseCidr(tun);
  const addr = canonicalIp(ip ?? '');
  if (addr === null) throw new TypeError(`"${ip}" is not an IPv4 or IPv6 address`);
  if (isV6(addr) !== cidr.v6) throw new TypeError(`ferry's address ${addr} and the device's ${cidr.addr} are of different IP versions`);
  if (addr === cidr.addr) throw new TypeError(`ferry's address ${addr} is the kernel side's own address: pick another one (e.g. in ${tun})`);
  return { cidr, ip: addr };
}

/** Open the device and start a Host on it. Throws TunError (device) or TypeError/ImpairSpecError (arguments). */
export function openTunHost(o: TunHostOptions): TunHost {
  const { cidr, ip } = checkAddresses(o.tun, o.ip);
  const spec = o.impair === null || o.impair === undefined ? null : typeof o.impair === 'string' ? parseImpair(o.impair) : o.impair;
  const mode = o.mode ?? 'tun';
  const dev = openTun({
    mode, addr: `${cidr.addr}/${cidr.prefix}`,
    routes: inPrefix(cidr, ip) ? [] : [`${ip}/${cidr.v6 ? 128 : 32}`],
    ipv6: cidr.v6,
    txqueuelen: o.txqueuelen ?? 1000,
    offload: o.offload ?? false,
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.netns !== undefined ? { netns: o.netns } : {}),
    ...(o.mtu !== undefined ? { mtu: o.mtu } : {}),
  });
  let pcap: PcapWriter | null = null;
  try {
    if (o.pcap) {
      pcap = new PcapWriter(o.pcap, { linkType: mode === 'tap' ? LINKTYPE.EN10MB : LINKTYPE.RAW, onError: () => {} });
      if (pcap.error) throw new Error(`cannot write pcap file ${o.pcap}: ${pcap.error.message}`);
    }
    let host: Host | null = null;
    // The GSO segment size of a super-segment: its connection's MSS (+ the timestamp option it
    // excludes), looked up in the stack's table by the packet's 4-tuple.
    const gsoBase = (p: Uint8Array): number | null => {
      const v6 = p[0]! >> 4 === 6, ihl = v6 ? 40 : (p[0]! & 0x0f) * 4;
      const src = v6 ? v6ToString(p, 8) : v4ToString(p, 12), dst = v6 ? v6ToString(p, 24) : v4ToString(p, 16);
      const t = host?.state.tcp[connKey(src, (p[ihl]! << 8) | p[ihl + 1]!, dst, (p[ihl + 2]! << 8) | p[ihl + 3]!)];
      return t === undefined ? null : t.mss + (t.tsOk ? 12 : 0);
    };
    const link = new TunLink(dev, { addresses: [ip], pcap, gsoBase });
    const impair = spec === null ? null : new ImpairLink(link, spec);
    const cfg = o.config ?? {};
    host = new Host({
      addresses: [ip],
      config: { ...(o.offload ? { tsoSegments: 40 } : {}), ...cfg, tcp: { mtu: dev.mtu, ...cfg.tcp } },
      link: impair ?? link,
      ...(o.secret ? { secret: o.secret } : {}),
    });
    if (mode === 'tap') link.announce();
    let closed = false;
    return {
      host, dev, link, impair, pcap, ip, kernelIp: cidr.addr,
      close: () => {
        if (closed) return;
        closed = true;
        host.close(); // closes impair → link → device
        if (!dev.closed) dev.close();
        pcap?.close();
      },
    };
  } catch (e) {
    dev.close();
    pcap?.close();
    throw e;
  }
}
