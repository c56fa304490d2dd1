// The SCTP driver (tun/sctp-socket.ts SctpHost) on a fresh TUN device: one call from "a CIDR for
// the kernel side and an address for ferry" to a running SctpHost, with the pcap of everything
// that crosses the device. Used by the SCTP services (bin/sctp-services.ts), the usrsctp tests
// (test/tun/sctp.test.ts) and the SCTP benchmark (bin/bench-sctp.ts).
//
// The link is deliberately small: a TUN carries raw IP, SctpHost takes raw IP (protocol 132,
// or UDP to the encapsulation port, RFC 6951) and ignores everything else, so the link only
// records and forwards. Packets from the device are views into its reused read buffer; the
// host steps each one synchronously and the stack copies what it keeps
// (stack/sctp/events.ts, 'packet'), so no copy is made here. Packets the host sends are fresh
// buffers the link owns.
import type { SctpAssocConfig } from '../stack/sctp/api.ts';
import { openTun } from './device.ts';
import type { TunDevice } from './device.ts';
import type { Link } from './driver.ts';
import { LINKTYPE } from './pcap.ts';
import { PcapWriter } from './pcap-writer.ts';
import { SctpHost } from './sctp-socket.ts';

/** Counters of an SctpTunLink. */
export interface SctpTunLinkStats { packetsIn: number; packetsOut: number; batchesIn: number }

/** A Link over a TUN device that records every packet in and out (raw IP, LINKTYPE 101). */
export class SctpTunLink implements Link {
  readonly stats: SctpTunLinkStats = { packetsIn: 0, packetsOut: 0, batchesIn: 0 };
  private cb: ((pkts: Uint8Array[]) => void) | null = null;
  private closed = false;

  constructor(readonly dev: TunDevice, private readonly pcap: PcapWriter | null = null) {
    if (dev.mode !== 'tun') throw new TypeError('SctpTunLink: a TUN device is required (raw IP), not a TAP');
    if (dev.vnetHdrLen !== 0) throw new TypeError('SctpTunLink: devices opened with offload (virtio-net header) are not supported');
    if (pcap !== null && pcap.linkType !== LINKTYPE.RAW) throw new TypeError(`SctpTunLink: the pcap must be LINKTYPE ${LINKTYPE.RAW} (raw IP), not ${pcap.linkType}`);
    dev.onPackets(this.onPackets);
  }

  onReceive(cb: (pkts: Uint8Array[]) => void): void { this.cb = cb; }

  send(pkts: Uint8Array[]): void {
    if (this.closed || pkts.length === 0) return;
    this.stats.packetsOut += pkts.length;
    const pcap = this.pcap;
    if (pcap !== null) for (const p of pkts) pcap.write(p);
    this.dev.writeMany(pkts);
  }

  /** Stop reading and writing; close the device (deleting it); flush the pcap (the owner closes it). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cb = null;
    if (!this.dev.closed) { this.dev.onPackets(null); this.dev.close(); }
    this.pcap?.flush();
  }

  private readonly onPackets = (pkts: Uint8Array[]): void => {
    if (this.closed) return;
    this.stats.packetsIn += pkts.length;
    this.stats.batchesIn++;
    const pcap = this.pcap;
    if (pcap !== null) for (const p of pkts) pcap.write(p);
    this.cb?.(pkts);
  };
}

// --------------------------------------------------------------------------- addresses

// The same address checks as the TCP services (tun/tun-host.ts).
import { checkAddresses as checkTunAddresses, inPrefix, parseCidr } from './tun-host.ts';
export { parseCidr, inPrefix, checkTunAddresses };
export type { Cidr } from './tun-host.ts';

// ------------------------------------------------------------------------------- host

export interface SctpTunOptions {
  /** The kernel side's address in CIDR form, e.g. '10.99.0.1/24'. */
  tun: string;
  /** The address ferry answers as, e.g. '10.99.0.2' (routed into the device when outside the prefix). */
  ip: string;
  /** Device name (default: the kernel's tun%d). */
  name?: string;
  /** Network namespace for the device (must exist; default this process's). */
  netns?: string;
  mtu?: number;
  /** Kernel→ferry queue in packets (default 1000). */
  txqueuelen?: number;
  /** Record every packet in and out to this file (classic pcap, raw IP). */
  pcap?: string | null;
  /** ferry's UDP encapsulation port (RFC 6951; default 9899; 0: accept raw IP only). */
  udpEncap?: number;
  /** Association settings (buffers, streams, RTO...); the path MTU defaults to the device's. */
  assoc?: Partial<SctpAssocConfig>;
  /** 32 bytes of stack secret (default: random). */
  secret?: Uint8Array;
}

export interface SctpTun {
  host: SctpHost;
  dev: TunDevice;
  link: SctpTunLink;
  pcap: PcapWriter | null;
  /** ferry's address (canonical) and the kernel side's. */
  ip: string;
  kernelIp: string;
  /** Stop the driver, close the device (deleting it), flush and close the pcap. Idempotent. */
  close(): void;
}

/** Open a TUN device and start an SctpHost on it. Throws TunError (device) or TypeError (arguments). */
export function openSctpTun(o: SctpTunOptions): SctpTun {
  const { cidr, ip } = checkTunAddresses(o.tun, o.ip);
  const udpEncap = o.udpEncap ?? 9899;
  if (!Number.isInteger(udpEncap) || udpEncap < 0 || udpEncap > 65535) throw new TypeError(`UDP encapsulation port ${udpEncap}: an integer in 0..65535`);
  const dev = openTun({
    mode: 'tun', addr: `${cidr.addr}/${cidr.prefix}`,
    routes: inPrefix(cidr, ip) ? [] : [`${ip}/${cidr.v6 ? 128 : 32}`],
    ipv6: cidr.v6,
    txqueuelen: o.txqueuelen ?? 1000,
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.netns !== undefined ? { netns: o.netns } : {}),
    ...(o.mtu !== undefined ? { mtu: o.mtu } : {}),
  });
  let pcap: PcapWriter | null = null;
  try {
    if (o.pcap) {
      pcap = new PcapWriter(o.pcap, { linkType: LINKTYPE.RAW, onError: () => {} });
      if (pcap.error) throw new Error(`cannot write pcap file ${o.pcap}: ${pcap.error.message}`);
    }
    const link = new SctpTunLink(dev, pcap);
    const host = new SctpHost({
      addresses: [ip],
      // Port 0 never matches a UDP destination port: only raw IP is accepted then.
      config: { udpEncapPort: udpEncap, assoc: { mtu: dev.mtu, ...(o.assoc ?? {}) } },
      link,
      ...(o.secret ? { secret: o.secret } : {}),
    });
    let closed = false;
    return {
      host, dev, link, pcap, ip, kernelIp: cidr.addr,
      close: () => {
        if (closed) return;
        closed = true;
        host.close(); // closes the link and the device
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
