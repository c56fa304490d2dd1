// TUN (L3) and TAP (L2) devices for the host driver: create, configure, move packets.
//
// Packets never pass through libuv's worker threads (PEERS.md §1: that path reaches a tenth
// of the device's rate and can hang exit). The fd is opened O_NONBLOCK by ferry's own addon
// (tun/native/ferry_tun.c); a uv_poll_t on the main loop says when it is readable, and one
// native call reads a whole batch into an arena until EAGAIN. Nothing polls while idle.
// Configuration (address, MTU, up, namespace) runs `ip` once at open time.
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { loadAddon } from './native/addon.ts';
import type { PollHandle, TunAddon } from './native/addon.ts';
import { checkIfName, ip, netnsExists } from './netns.ts';

/** Options of openTun. */
export interface OpenTunOptions {
  /** 'tun': IP packets (L3); 'tap': Ethernet frames (L2; ferry answers ARP itself). */
  mode: 'tun' | 'tap';
  /** Interface name (≤ 15 bytes) or a kernel pattern such as 'fx%d'; default: the kernel picks tun%d/tap%d. */
  name?: string;
  /** MTU of the device (68..65535); default: the kernel's (1500). */
  mtu?: number;
  /** The kernel side's address(es) in CIDR form, e.g. '10.88.0.1/24'. */
  addr?: string | readonly string[];
  /** Extra routes through the device, e.g. ['10.88.0.2/32'] (rp_filter, PEERS.md §2). */
  routes?: readonly string[];
  /** Bring the device up (default true). */
  up?: boolean;
  /** Leave IPv6 on (default false: disable_ipv6=1, so the kernel sends no IPv6 into it). */
  ipv6?: boolean;
  /** Network namespace to put the device in (must exist). The device is created here, then moved. */
  netns?: string;
  /** Kernel→ferry queue length in packets (kernel default 500; drops beyond it are silent). */
  txqueuelen?: number;
  /**
   * IFF_VNET_HDR + TUNSETOFFLOAD(CSUM|TSO4|TSO6): every packet read or written then starts
   * with a 10-byte virtio_net_hdr, and TCP segments of up to 64 KB may pass. Default false.
   */
  offload?: boolean;
  /** Max packets per native read call (default 64). */
  batch?: number;
}

/** Counters of one device. `kernel` is the kernel's view of the interface (null if unavailable). */
export interface TunStats {
  /** Packets and bytes ferry read from the device. */
  readPackets: number; readBytes: number; readCalls: number;
  /** Packets and bytes ferry wrote; packets the kernel rejected (bad header...); last errno name. */
  writtenPackets: number; writtenBytes: number; writeErrors: number; lastWriteError: string | null;
  /** Packets waiting for writability, and those dropped because that queue was full. */
  writeQueued: number; writeQueueDrops: number;
  /**
   * From `ip -s link`: the kernel's tx is ferry's rx. `txDropped` counts packets the kernel had
   * for ferry but dropped because ferry fell behind (queue of txqueuelen full).
   */
  kernel: { txPackets: number; txBytes: number; txDropped: number; rxPackets: number; rxBytes: number; rxDropped: number } | null;
}

/** An error from opening or configuring a device; `code` is an errno name or EADDRINUSE/EEXIST/ENOENT. */
export class TunError extends Error {
  readonly code: string;
  constructor(code: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'TunError';
    this.code = code;
  }
}

/** Bytes of the virtio_net_hdr that prefixes each packet when `offload` is on. */
export const VNET_HDR_LEN = 10;
const WRITE_QUEUE_MAX = 8192;
/** Read batches per readiness callback before yielding to the event loop (timers, other I/O). */
const BATCHES_PER_WAKE = 8;

/** An open TUN/TAP device. Create with openTun(). */
export class TunDevice {
  /** Interface name (as seen in its namespace). */
  readonly name: string;
  readonly mode: 'tun' | 'tap';
  /** Namespace the device lives in (null: this process's). */
  readonly netns: string | null;
  /** The device's MTU at open time. */
  readonly mtu: number;
  /** Length of the virtio_net_hdr prefix on every packet (0 unless opened with offload). */
  readonly vnetHdrLen: number;
  /** TAP only: the kernel side's MAC address ('aa:bb:…'); ferry uses its own. */
  readonly mac: string | null;
  /** The non-blocking fd (for the ceiling tool; ferry code should use the methods). */
  readonly fd: number;

  private readonly addon: TunAddon;
  private poll: PollHandle | null;
  private events = 0;
  private cb: ((pkts: Uint8Array[]) => void) | null = null;
  private errCb: ((e: Error) => void) | null = null;
  private readonly arena: Uint8Array;
  private readonly lens: Uint32Array;
  private readonly batch: number;
  private readonly maxPkt: number;
  private queue: Uint8Array[] = [];
  private qHead = 0;
  private readonly errs = new Int32Array(2);
  private _closed = false;
  private readonly st = {
    readPackets: 0, readBytes: 0, readCalls: 0, writtenPackets: 0, writtenBytes: 0, writeQueueDrops: 0,
  };

  /** @internal use openTun(). */
  constructor(addon: TunAddon, fd: number, o: { name: string; mode: 'tun' | 'tap'; netns: string | null; mtu: number; vnetHdrLen: number; mac: string | null; batch: number }) {
    this.addon = addon;
    this.fd = fd;
    this.name = o.name;
    this.mode = o.mode;
    this.netns = o.netns;
    this.mtu = o.mtu;
    this.vnetHdrLen = o.vnetHdrLen;
    this.mac = o.mac;
    this.batch = o.batch;
    // The largest thing one read() can return: a 64 KB super-segment with offloads, else an
    // MTU-sized packet (+ Ethernet header with a VLAN tag on a TAP). Sized generously anyway:
    // a read into too small a buffer silently truncates the packet.
    this.maxPkt = o.vnetHdrLen + 65535 + 18;
    this.arena = new Uint8Array(o.batch * (o.mtu + o.vnetHdrLen + 18) + this.maxPkt);
    this.lens = new Uint32Array(o.batch);
    this.poll = addon.pollStart(fd, 0, this.onReady);
  }

  /** Whether close() has been called (or the device failed). */
  get closed(): boolean { return this._closed; }

  /**
   * Deliver received packets to `cb` in batches (null stops reading; the kernel then queues up
   * to txqueuelen packets and drops the rest). The packets are views into a buffer reused for
   * the next batch: valid only until `cb` returns, so copy (`.slice()`) whatever you keep.
   */
  onPackets(cb: ((pkts: Uint8Array[]) => void) | null): void {
    this.cb = cb;
    this.setEvents(cb ? this.events | this.addon.constants.READABLE : this.events & ~this.addon.constants.READABLE);
  }

  /** Called once if the device fails (e.g. deleted under us); the device is closed by then. */
  onError(cb: ((e: Error) => void) | null): void {
    this.errCb = cb;
  }

  /**
   * Write one packet (an IP packet on a TUN, a frame on a TAP, after the virtio_net_hdr when
   * offload is on). Returns false when the kernel is not accepting packets right now: the
   * packet was copied into a queue that is flushed when the fd turns writable.
   * A packet the kernel rejects (e.g. not IPv4/IPv6) is counted in stats().writeErrors.
   */
  write(pkt: Uint8Array): boolean {
    if (this._closed) throw new Error(`${this.name}: write after close`);
    if (this.qHead < this.queue.length) { this.enqueue(pkt); return false; }
    const r = this.addon.writeOne(this.fd, pkt);
    if (r === 1) { this.st.writtenPackets++; this.st.writtenBytes += pkt.length; return true; }
    if (r === 0) { this.enqueue(pkt); this.setEvents(this.events | this.addon.constants.WRITABLE); return false; }
    this.errs[0]!++; this.errs[1] = -r;
    return true;
  }

  /** Write several packets with one native call; returns false if some were queued (see write()). */
  writeMany(pkts: readonly Uint8Array[]): boolean {
    if (this._closed) throw new Error(`${this.name}: write after close`);
    if (pkts.length === 0) return true;
    let n = 0;
    if (this.qHead >= this.queue.length) {
      const e0 = this.errs[0]!;
      n = this.addon.writeArray(this.fd, pkts, 0, pkts.length, this.errs);
      this.countWritten(pkts, 0, n, this.errs[0]! - e0);
      if (n === pkts.length) return true;
      this.setEvents(this.events | this.addon.constants.WRITABLE);
    }
    for (let i = n; i < pkts.length; i++) this.enqueue(pkts[i]!);
    return false;
  }

  /** Keep the event loop alive while open (default) or not. */
  ref(): void { if (this.poll) this.addon.pollRef(this.poll, true); }
  unref(): void { if (this.poll) this.addon.pollRef(this.poll, false); }

  /**
   * Stop reading, close the fd. Synchronous and immediate (nothing blocks in the kernel: the fd
   * is non-blocking and no thread is parked in read()). Closing the fd deletes the device.
   * Queued, unwritten packets are discarded. Idempotent.
   */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    if (this.poll) { this.addon.pollClose(this.poll); this.poll = null; }
    this.addon.close(this.fd);
    this.cb = null;
    this.queue = [];
    this.qHead = 0;
  }

  /** Counters; `kernel` runs `ip -s link` (a process spawn: not for hot paths). */
  stats(): TunStats {
    let kernel: TunStats['kernel'] = null;
    if (!this._closed) {
      try {
        const j = JSON.parse(ip(['-j', '-s', 'link', 'show', 'dev', this.name], this.netns)) as Array<{ stats64?: { rx: Record<string, number>; tx: Record<string, number> } }>;
        const s = j[0]?.stats64;
        if (s) {
          kernel = {
            txPackets: s.tx.packets ?? 0, txBytes: s.tx.bytes ?? 0, txDropped: s.tx.dropped ?? 0,
            rxPackets: s.rx.packets ?? 0, rxBytes: s.rx.bytes ?? 0, rxDropped: s.rx.dropped ?? 0,
          };
        }
      } catch { /* device gone */ }
    }
    return {
      ...this.st, writeErrors: this.errs[0]!, lastWriteError: this.errs[1] ? errnoName(this.errs[1]) : null,
      writeQueued: this.queue.length - this.qHead, kernel,
    };
  }

  // --- internals ---------------------------------------------------------------------------

  private setEvents(ev: number): void {
    if (ev === this.events || !this.poll) return;
    this.events = ev;
    this.addon.pollUpdate(this.poll, ev);
  }

  private readonly onReady = (status: number, events: number): void => {
    if (this._closed) return;
    if (status < 0) {
      // EPOLLERR: the tun_struct is detached from our fd (device deleted, or its namespace).
      this.fail(new TunError(errnoName(-status), `${this.name}: device is gone (deleted, or its network namespace was) [poll: ${errnoName(-status)}]`));
      return;
    }
    if (events & this.addon.constants.WRITABLE) this.flush();
    if (events & this.addon.constants.READABLE) this.drain();
  };

  private drain(): void {
    const { addon, fd, arena, lens, batch, maxPkt } = this;
    for (let b = 0; b < BATCHES_PER_WAKE; b++) {
      let n: number;
      try {
        n = addon.readBatch(fd, arena, lens, batch, maxPkt);
      } catch (e) {
        this.fail(new TunError((e as { code?: string }).code ?? 'EIO', `${this.name}: read failed: ${(e as Error).message}`, e));
        return;
      }
      this.st.readCalls++;
      if (n === 0) return;
      const pkts = new Array<Uint8Array>(n);
      let off = 0;
      for (let i = 0; i < n; i++) {
        const l = lens[i]!;
        pkts[i] = arena.subarray(off, off + l);
        off += l;
      }
      this.st.readPackets += n;
      this.st.readBytes += off;
      const cb = this.cb;
      if (cb) cb(pkts);
      if (this._closed || !this.cb) return;
      if (n < batch) return; // EAGAIN (or arena full: the level-triggered poll calls again)
    }
  }

  private enqueue(pkt: Uint8Array): void {
    if (this.queue.length - this.qHead >= WRITE_QUEUE_MAX) { this.st.writeQueueDrops++; return; }
    this.queue.push(pkt.slice()); // the caller may reuse its buffer once write() returns
  }

  private flush(): void {
    const q = this.queue;
    if (this.qHead < q.length) {
      const e0 = this.errs[0]!;
      let n: number;
      try {
        n = this.addon.writeArray(this.fd, q, this.qHead, q.length, this.errs);
      } catch (e) {
        this.fail(new TunError((e as { code?: string }).code ?? 'EIO', `${this.name}: write failed: ${(e as Error).message}`, e));
        return;
      }
      this.countWritten(q, this.qHead, n, this.errs[0]! - e0);
      this.qHead += n;
    }
    if (this.qHead >= q.length) {
      this.queue = [];
      this.qHead = 0;
      this.setEvents(this.events & ~this.addon.constants.WRITABLE);
    } else if (this.qHead > 1024 && this.qHead * 2 > q.length) {
      this.queue = q.slice(this.qHead);
      this.qHead = 0;
    }
  }

  private countWritten(pkts: readonly Uint8Array[], from: number, n: number, rejected: number): void {
    let bytes = 0;
    for (let i = from; i < from + n; i++) bytes += pkts[i]!.length;
    this.st.writtenPackets += n - rejected;
    this.st.writtenBytes += bytes; // includes rejected packets' bytes (rare; not worth a per-packet check)
  }

  private fail(e: Error): void {
    this.close();
    const cb = this.errCb;
    if (cb) cb(e);
    else process.emitWarning(e);
  }
}

// --- opening -------------------------------------------------------------------------------

/**
 * Create a TUN or TAP device, configure it (namespace, IPv6 off, MTU, txqueuelen, address,
 * up, routes) and return it ready to read and write. Throws a TunError that says what is wrong
 * and what to do (not root, /dev/net/tun missing, name or address taken, bad argument).
 * The device exists as long as the returned object is open (close() deletes it).
 */
export function openTun(opts: OpenTunOptions): TunDevice {
  const o = checkOptions(opts);
  const addon = loadAddon();
  if (o.netns !== null && !netnsExists(o.netns)) {
    throw new TunError('ENOENT', `network namespace ${o.netns} does not exist (create it first: ip netns add ${o.netns})`);
  }
  if (!existsSync('/dev/net/tun')) {
    throw new TunError('ENOENT', '/dev/net/tun missing: load the module (modprobe tun) or create the node (mkdir -p /dev/net && mknod /dev/net/tun c 10 200)');
  }
  // Names: an explicit name must be free here and in the target namespace. Otherwise the
  // kernel numbers a pattern here (race-free against other processes creating devices), and
  // the device is renamed before the move if the target namespace has that name already.
  const name = o.name;
  if (name !== null && !name.includes('%')) {
    if (linkExists(name, null)) throw new TunError('EEXIST', `device name ${name} is already in use${o.netns === null ? '' : " in this process's namespace (where the device is created before it moves)"}`);
    if (o.netns !== null && linkExists(name, o.netns)) throw new TunError('EEXIST', `device name ${name} is already in use in namespace ${o.netns}`);
  }

  let opened: { fd: number; name: string };
  try {
    opened = addon.open(name ?? '', o.mode === 'tap', o.offload, false, true);
  } catch (e) {
    throw openError(e, name !== null && !name.includes('%') ? `${o.mode.toUpperCase()} device ${name}` : `a ${o.mode.toUpperCase()} device`);
  }
  const fd = opened.fd;
  let dev = opened.name;
  try {
    if (o.offload) {
      const c = addon.constants;
      addon.setOffload(fd, c.TUN_F_CSUM | c.TUN_F_TSO4 | c.TUN_F_TSO6);
    }
    if (o.netns !== null) {
      if ((name === null || name.includes('%')) && linkExists(dev, o.netns)) {
        const free = freeName(name ?? `${o.mode}%d`, o.netns);
        ip(['link', 'set', 'dev', dev, 'name', free]);
        dev = free;
      }
      ip(['link', 'set', 'dev', dev, 'netns', o.netns]);
    }
    // Moving wipes addresses and per-device sysctls (PEERS.md §2): configure only now, and
    // turn IPv6 off before the device goes up (it would get a link-local address and send
    // router solicitations into the TUN within milliseconds, PEERS.md §1).
    if (!o.ipv6) disableIpv6(dev, o.netns);
    const linkArgs: string[] = [];
    if (o.mtu !== null) linkArgs.push('mtu', String(o.mtu));
    if (o.txqueuelen !== null) linkArgs.push('txqueuelen', String(o.txqueuelen));
    if (linkArgs.length) ip(['link', 'set', 'dev', dev, ...linkArgs], o.netns);
    if (o.addr.length) {
      const taken = addressesInUse(o.netns);
      for (const a of o.addr) {
        const local = a.split('/')[0]!.toLowerCase();
        const on = taken.get(local);
        if (on !== undefined) throw new TunError('EADDRINUSE', `address ${a} already in use on ${on}${o.netns === null ? '' : ` (namespace ${o.netns})`}`);
        ip(['addr', 'add', a, 'dev', dev], o.netns);
      }
    }
    if (o.up) ip(['link', 'set', 'dev', dev, 'up'], o.netns);
    for (const r of o.routes) ip(['route', 'add', r, 'dev', dev], o.netns);
    const info = JSON.parse(ip(['-j', 'link', 'show', 'dev', dev], o.netns)) as Array<{ mtu?: number; address?: string }>;
    const mtu = info[0]?.mtu ?? o.mtu ?? 1500;
    const mac = o.mode === 'tap' ? info[0]?.address ?? null : null;
    return new TunDevice(addon, fd, {
      name: dev, mode: o.mode, netns: o.netns, mtu, vnetHdrLen: o.offload ? VNET_HDR_LEN : 0, mac, batch: o.batch,
    });
  } catch (e) {
    try { addon.close(fd); } catch { /* already closed */ }
    if (e instanceof TunError) throw e;
    throw new TunError('ECONFIG', `configuring ${o.mode} device ${dev}: ${(e as Error).message}`, e);
  }
}

interface CheckedOptions {
  mode: 'tun' | 'tap'; name: string | null; mtu: number | null; addr: string[]; routes: string[];
  up: boolean; ipv6: boolean; netns: string | null; txqueuelen: number | null; offload: boolean; batch: number;
}

const CIDR4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(\/(3[0-2]|[12]?\d))?$/;
const CIDR6 = /^[0-9a-fA-F:.]*:[0-9a-fA-F:.]*(\/(12[0-8]|1[01]\d|[1-9]?\d))?$/;

function bad(what: string): never {
  const e = new TypeError(`openTun: ${what}`);
  (e as TypeError & { code: string }).code = 'ERR_INVALID_ARG_VALUE';
  throw e;
}

function intIn(v: unknown, lo: number, hi: number, what: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(`${what} must be an integer in ${lo}..${hi}, got ${JSON.stringify(v)}`);
  return v;
}

function cidrList(v: unknown, what: string): string[] {
  if (v === undefined || v === null) return [];
  const list = typeof v === 'string' ? [v] : Array.isArray(v) ? v : bad(`${what} must be a CIDR string or an array of them`);
  for (const a of list) {
    if (typeof a !== 'string' || !(CIDR4.test(a) || CIDR6.test(a))) bad(`${what}: ${JSON.stringify(a)} is not an address in CIDR form (e.g. 10.88.0.1/24)`);
  }
  return [...list] as string[];
}

function checkOptions(opts: OpenTunOptions): CheckedOptions {
  if (typeof opts !== 'object' || opts === null) bad('options object required');
  if (opts.mode !== 'tun' && opts.mode !== 'tap') bad(`mode must be 'tun' or 'tap', got ${JSON.stringify(opts.mode)}`);
  let name: string | null = null;
  if (opts.name !== undefined && opts.name !== null) {
    if (typeof opts.name !== 'string') bad('name must be a string');
    const n = opts.name;
    if (n.includes('%')) {
      if (!/^[A-Za-z0-9_.-]*%d[A-Za-z0-9_.-]*$/.test(n) || Buffer.byteLength(n) > 13) bad(`name pattern ${JSON.stringify(n)} must contain one %d and stay short (e.g. 'fx%d')`);
    } else {
      try { checkIfName(n); } catch (e) { bad((e as Error).message); }
    }
    name = n;
  }
  const bool = (v: unknown, d: boolean, what: string): boolean => {
    if (v === undefined || v === null) return d;
    if (typeof v !== 'boolean') bad(`${what} must be a boolean`);
    return v;
  };
  if (opts.netns !== undefined && opts.netns !== null && (typeof opts.netns !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(opts.netns))) {
    bad(`netns ${JSON.stringify(opts.netns)} is not a namespace name`);
  }
  return {
    mode: opts.mode,
    name,
    mtu: intIn(opts.mtu, 68, 65535, 'mtu'),
    addr: cidrList(opts.addr, 'addr'),
    routes: cidrList(opts.routes, 'routes'),
    up: bool(opts.up, true, 'up'),
    ipv6: bool(opts.ipv6, false, 'ipv6'),
    netns: opts.netns ?? null,
    txqueuelen: intIn(opts.txqueuelen, 1, 1_000_000, 'txqueuelen'),
    offload: bool(opts.offload, false, 'offload'),
    batch: intIn(opts.batch, 1, 4096, 'batch') ?? 64,
  };
}

/** Whether interface `name` exists in `ns` (null: ours). */
function linkExists(name: string, ns: string | null): boolean {
  if (ns === null) return existsSync(`/sys/class/net/${name}`);
  try { ip(['link', 'show', 'dev', name], ns); return true; } catch { return false; }
}

/** The first name from `pattern` (with %d) free both here and in `ns`. */
function freeName(pattern: string, ns: string): string {
  const there = new Set((JSON.parse(ip(['-j', 'link', 'show'], ns)) as Array<{ ifname: string }>).map((l) => l.ifname));
  for (let i = 0; i < 10_000; i++) {
    const n = pattern.replace('%d', String(i));
    if (!there.has(n) && !existsSync(`/sys/class/net/${n}`)) return n;
  }
  throw new TunError('EEXIST', `no free device name for ${pattern}`);
}

/** Map of local address (lower-case text) → interface, in `ns`. */
function addressesInUse(ns: string | null): Map<string, string> {
  const j = JSON.parse(ip(['-j', 'addr', 'show'], ns)) as Array<{ ifname: string; addr_info?: Array<{ local?: string }> }>;
  const m = new Map<string, string>();
  for (const l of j) for (const a of l.addr_info ?? []) if (a.local) m.set(a.local.toLowerCase(), l.ifname);
  return m;
}

function disableIpv6(dev: string, ns: string | null): void {
  if (ns === null) {
    const p = `/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`;
    if (existsSync(p)) writeFileSync(p, '1');
    return;
  }
  // /proc/sys/net shows this process's namespace: set it from inside the target one.
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'sh', '-c', `p=/proc/sys/net/ipv6/conf/${dev}/disable_ipv6; [ ! -e $p ] || echo 1 > $p`], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`disabling IPv6 on ${dev} in ${ns}: ${String((e as { stderr?: unknown }).stderr ?? e).trim()}`, { cause: e });
  }
}

/** A TunError for a failed open/TUNSETIFF of `what` ('TUN device fx0'), saying what to do. */
function openError(e: unknown, what: string): TunError {
  const code = (e as { code?: string }).code ?? 'EIO';
  const msg = (e as Error).message;
  switch (code) {
    case 'EPERM':
    case 'EACCES':
      return new TunError(code, `cannot create ${what}: need root (CAP_NET_ADMIN) [${msg}]`, e);
    case 'ENOENT':
    case 'ENODEV':
    case 'ENXIO':
      return new TunError(code, `/dev/net/tun unusable: modprobe tun (or mknod /dev/net/tun c 10 200) [${msg}]`, e);
    case 'EBUSY':
      return new TunError(code, `cannot create ${what}: the name is already in use [${msg}]`, e);
    case 'EINVAL':
      return new TunError(code, `cannot create ${what}: the name is taken by a device that is not a TUN/TAP, or the flags are invalid [${msg}]`, e);
    default:
      return new TunError(code, `cannot create ${what}: ${msg}`, e);
  }
}

const ERRNO: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 5: 'EIO', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 14: 'EFAULT', 16: 'EBUSY',
  19: 'ENODEV', 22: 'EINVAL', 77: 'EBADFD', 90: 'EMSGSIZE', 105: 'ENOBUFS',
};
function errnoName(n: number): string { return ERRNO[n] ?? `errno ${n}`; }
