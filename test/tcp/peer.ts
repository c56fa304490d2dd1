// Scripted-peer harness for TCP state tests (STYLE.md §5), standing in for smoltcp's send!/recv!:
//   peer(opts).listen().send({ flags: SYN, seq: 0 }).recv({ flags: SYN | ACK, seq: 0, ack: 1 })
//     .at(1000).tick().recv(...)
// Sequence numbers are relative, as in packetdrill: segments the peer sends carry seq relative
// to the peer's ISS (REMOTE_ISS) and ack relative to our ISS; segments we send, the reverse.
// After every step the whole stack state must survive encode/decode through migrate/codec.ts.
import * as assert from 'uvu/assert';
import type { AppEvent, ConnId, ListenerId, StackConfig, StackEvent, TcpSocketConfig } from '../../stack/api.ts';
import { createStack, defaultStackConfig, stackStep, type StackState } from '../../stack/stack.ts';
import { addrSum } from '../../stack/wire/addr-write.ts';
import { parseIp } from '../../stack/wire/ip.ts';
import { ACK, FIN, PSH, RST, SYN, parseTcp, tcpOptionsInfo, type TcpOption, type TcpSegment } from '../../stack/wire/tcp.ts';
import { buildSegment } from '../../stack/tcp/output.ts';
import type { Tcb } from '../../stack/tcp/tcb.ts';
import { decodeState, encodeState } from '../../migrate/codec.ts';

export { ACK, FIN, PSH, RST, SYN };
export const LOCAL = '10.0.0.1', REMOTE = '10.0.0.2', LPORT = 80, RPORT = 40000;
/** The peer's initial sequence number. */
export const REMOTE_ISS = 1_000_000;
export const SECRET = new Uint8Array(32).map((_, i) => i * 7 + 1);
/** The peer's timestamp clock: TSval = now + PEER_TS. */
export const PEER_TS = 500_000;

/** A segment as a test writes it (relative sequence numbers). */
export interface SegSpec {
  flags: number;
  seq?: number;
  ack?: number;
  win?: number;
  /** Payload: bytes, a string, or a length (filled with a counting pattern from the sequence number). */
  data?: Uint8Array | string | number;
  /** Exact options; when sending, replaces the automatic timestamp. */
  opts?: TcpOption[];
  /** SACK blocks (relative to the receiver of the data being SACKed). */
  sack?: [number, number][];
  /** Explicit [tsval, tsecr] (absolute); null: no timestamp option when sending. */
  ts?: [number, number] | null;
  /** seq/ack given as absolute numbers. */
  abs?: boolean;
  /** Source port (default RPORT) for segments sent by the peer. */
  sport?: number;
}

export interface PeerOptions {
  tcp?: Partial<TcpSocketConfig>;
  stack?: Partial<StackConfig>;
  /** The peer sends (and expects) timestamps automatically; default: whether the stack config has them on. */
  ts?: boolean;
}

/** Deterministic payload byte for an absolute data offset. */
export const patternByte = (i: number): number => (i * 31 + 7) & 0xff;

const textBytes = (s: string) => new Uint8Array([...s].map((c) => c.charCodeAt(0) & 0xff));

/** A test-friendly stack configuration: defaults with the given overrides. */
export function testConfig(o: PeerOptions = {}): StackConfig {
  const c = defaultStackConfig([LOCAL]);
  return { ...c, ...(o.stack ?? {}), addresses: [LOCAL], tcp: { ...c.tcp, ...(o.tcp ?? {}) } };
}

interface Norm { flags: string; seq: number; ack: number; win: number | null; len: number; data: number[] | null; sack: string; ts: string; opts: string | null }

const flagText = (f: number) => ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'].filter((_, i) => f & (1 << i)).join('|') || 'none';

export class Peer {
  st: StackState;
  now = 0;
  id: ConnId | null = null;
  listener: ListenerId | null = null;
  /** Segments we sent, not yet matched by recv(). */
  pending: TcpSegment[] = [];
  /** The IP packets of `pending` (for IP-header checks: TTL, TOS / traffic class, ECN field). */
  pendingIp: Uint8Array[] = [];
  events: AppEvent[] = [];
  result: unknown = null;
  /** Our ISS (learned from the TCB or the first SYN we send). */
  liss: number | null = null;
  /** Last TSval we sent (the peer echoes it). */
  lastTsval = 0;
  tsAuto: boolean;
  /** Template window for expected segments (null: not compared unless given). */
  win: number | null = null;
  /** Bytes the peer received from us, in order (for data checks). */
  constructor(readonly opts: PeerOptions = {}) {
    const cfg = testConfig(opts);
    this.st = createStack(cfg, SECRET, 0);
    this.tsAuto = opts.ts ?? cfg.tcp.timestamps;
    this.roundTrip();
  }

  /** The connection's TCB (throws if none). */
  tcb(): Tcb {
    if (this.id === null) throw new Error('peer: no connection id');
    const t = this.st.tcp[this.id];
    if (t === undefined) throw new Error(`peer: connection ${this.id} is gone`);
    return t;
  }

  private roundTrip(): void {
    const d = decodeState(encodeState(this.st));
    assert.equal(d, this.st as unknown, 'state must survive encode/decode unchanged');
  }

  /** Feed an event into the stack and collect its output. */
  step(ev: StackEvent): this {
    const r = stackStep(this.st, ev, this.now);
    for (const pkt of r.out) {
      const ip = parseIp(pkt);
      if (!ip.ok) throw new Error(`stack sent a bad IP packet: ${ip.error}`);
      const l4 = ip.value.payload;
      const t = parseTcp(l4, addrSum(ip.value.src) + addrSum(ip.value.dst) + 6 + l4.length);
      if (!t.ok) throw new Error(`stack sent a bad TCP segment: ${t.error}`);
      const seg = t.value;
      if ((seg.flags & SYN) && this.liss === null) this.liss = seg.seq;
      const info = tcpOptionsInfo(seg.options);
      if (info.ts !== null) this.lastTsval = info.ts.tsval;
      this.pending.push({ ...seg, payload: seg.payload.slice() });
      this.pendingIp.push(pkt);
    }
    this.events.push(...r.events);
    this.result = r.result;
    this.roundTrip();
    return this;
  }

  private learnIss(): void {
    if (this.liss === null && this.id !== null && this.st.tcp[this.id] !== undefined) this.liss = this.tcb().iss;
  }

  /** Advance the virtual clock to `ms` (absolute). */
  at(ms: number): this {
    if (ms < this.now) throw new Error(`peer.at(${ms}) goes back in time from ${this.now}`);
    this.now = ms;
    return this;
  }

  /** Fire due timers. */
  tick(): this { return this.step({ type: 'tick' }); }

  listen(port = LPORT, backlog = 16): this {
    this.step({ type: 'listen', addr: null, port, backlog });
    const r = this.result as { ok: boolean; listener?: string };
    assert.ok(r.ok, 'listen failed');
    this.listener = r.listener!;
    return this;
  }

  connect(port = LPORT, localPort = RPORT): this {
    // The stack is the active opener here: it connects from LOCAL:localPort to REMOTE:port.
    this.step({ type: 'connect', local: null, localPort, remote: REMOTE, port });
    const r = this.result as { ok: boolean; id?: string };
    assert.ok(r.ok, 'connect failed');
    this.id = r.id!;
    this.learnIss();
    return this;
  }

  accept(): this {
    this.step({ type: 'accept', listener: this.listener! });
    const r = this.result as { ok: boolean; id: string | null };
    assert.ok(r.ok && r.id !== null, 'accept found no connection');
    this.id = r.id;
    this.learnIss();
    return this;
  }

  /** A user call on the connection; the result is in `this.result`. */
  call(ev: Record<string, unknown> & { type: string }): this {
    return this.step({ ...ev, id: this.id } as unknown as StackEvent);
  }

  write(data: Uint8Array | string | number): this {
    const bytes = typeof data === 'number' ? pattern(0, data) : typeof data === 'string' ? textBytes(data) : data;
    return this.call({ type: 'send', data: bytes });
  }

  read(max = 1 << 30): this { return this.call({ type: 'recv', max }); }

  /** The peer sends a segment to us. */
  send(s: SegSpec): this {
    return this.step({ type: 'packet', data: this.packet(s) });
  }

  /** The IP packet send(s) would deliver, without delivering it. */
  packet(s: SegSpec): Uint8Array {
    this.learnIss();
    const liss = this.liss ?? 0;
    const seq = s.abs ? (s.seq ?? 0) : (REMOTE_ISS + (s.seq ?? 0)) >>> 0;
    const ack = s.abs ? (s.ack ?? 0) : s.ack === undefined ? 0 : (liss + s.ack) >>> 0;
    const payload = s.data === undefined ? new Uint8Array(0) : typeof s.data === 'number' ? pattern((s.seq ?? 1) - 1, s.data)
      : typeof s.data === 'string' ? textBytes(s.data) : s.data;
    let options: TcpOption[] = [];
    if (s.opts !== undefined) options = s.opts;
    else {
      const ts = s.ts !== undefined ? s.ts : this.tsAuto ? [this.now + PEER_TS, this.lastTsval] as [number, number] : null;
      if (ts !== null) options.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', tsval: ts[0] >>> 0, tsecr: ts[1] >>> 0 });
      if (s.sack !== undefined) {
        options.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: s.sack.map(([l, r]) => ({ left: (liss + l) >>> 0, right: (liss + r) >>> 0 })) });
      }
    }
    const seg: TcpSegment = {
      srcPort: s.sport ?? RPORT, dstPort: LPORT, seq, ack, flags: s.flags, reserved: 0,
      window: s.win ?? 65535, urgent: 0, options, payload,
    };
    if (this.id !== null && this.st.tcp[this.id] !== undefined) {
      const t = this.tcb();
      seg.dstPort = t.localPort;
      seg.srcPort = s.sport ?? t.remotePort;
    }
    return buildSegment({ src: REMOTE, dst: LOCAL, v6: false, psum: addrSum(REMOTE) + addrSum(LOCAL) + 6, ttl: 64 }, seg);
  }

  private norm(seg: TcpSegment): Norm {
    const liss = this.liss ?? 0;
    const info = tcpOptionsInfo(seg.options);
    return {
      flags: flagText(seg.flags),
      seq: (seg.seq - liss) | 0,
      ack: seg.flags & ACK ? (seg.ack - REMOTE_ISS) | 0 : 0,
      win: seg.window,
      len: seg.payload.length,
      data: null,
      sack: info.sack.map((b) => `${(b.left - REMOTE_ISS) | 0}-${(b.right - REMOTE_ISS) | 0}`).join(','),
      ts: info.ts === null ? 'none' : `ts`,
      opts: seg.flags & SYN ? JSON.stringify(seg.options) : null,
    };
  }

  private expected(s: SegSpec, actual: Norm | undefined): Norm {
    const data = s.data === undefined ? new Uint8Array(0) : typeof s.data === 'number' ? null : typeof s.data === 'string' ? textBytes(s.data) : s.data;
    const len = typeof s.data === 'number' ? s.data : data!.length;
    return {
      flags: flagText(s.flags),
      seq: s.seq ?? 0,
      ack: s.flags & ACK ? (s.ack ?? 0) : 0,
      win: s.win ?? this.win ?? actual?.win ?? null,
      len,
      data: null,
      sack: (s.sack ?? []).map(([l, r]) => `${l}-${r}`).join(','),
      ts: s.ts === null ? 'none' : (this.tsAuto && !(s.flags & RST)) || s.ts !== undefined ? 'ts' : 'none',
      opts: s.opts !== undefined ? JSON.stringify(s.opts) : actual?.opts ?? null,
    };
  }

  /** We must have sent exactly these segments (in order) since the last recv(). */
  recv(...specs: SegSpec[]): this {
    this.learnIss();
    const got = this.pending.map((s) => this.norm(s));
    const want = specs.map((s, i) => this.expected(s, got[i]));
    // Payload bytes are compared where the spec gives explicit bytes.
    specs.forEach((s, i) => {
      const seg = this.pending[i];
      if (seg !== undefined && (s.data instanceof Uint8Array || typeof s.data === 'string')) {
        assert.equal(seg.payload, typeof s.data === 'string' ? textBytes(s.data) : s.data, `payload of segment ${i}`);
      }
    });
    const line = (n: Norm) => `${n.flags} seq=${n.seq} ack=${n.ack} win=${n.win} len=${n.len} sack=[${n.sack}] ts=${n.ts}${n.opts === null ? '' : ` opts=${n.opts}`}`;
    assert.fixture(got.map(line).join('\n'), want.map(line).join('\n'), `at ${this.now} ms: segments sent`);
    this.pending = [];
    this.pendingIp = [];
    return this;
  }

  /** Discard whatever we sent so far (setup steps). */
  drain(): this { this.pending = []; this.pendingIp = []; this.events = []; return this; }

  /** Application events since the last expectEvents(), compared by type (and code for errors). */
  expectEvents(...types: string[]): this {
    const got = this.events.map((e) => (e.type === 'error' ? `error:${e.code}` : e.type));
    assert.equal(got, types, `at ${this.now} ms: app events`);
    this.events = [];
    return this;
  }

  /** Run an assertion against the peer (state, result, ...). */
  check(fn: (p: this) => void): this { fn(this); return this; }

  /** State name of the connection, or 'GONE' if it left the table. */
  state(): string {
    if (this.id === null) return 'NONE';
    return this.st.tcp[this.id]?.state ?? 'GONE';
  }

  expectState(s: string): this {
    assert.is(this.state(), s, `at ${this.now} ms: state`);
    return this;
  }
}

/** A counting pattern of `n` bytes for data starting at relative offset `from`. */
export function pattern(from: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = patternByte(from + i);
  return b;
}

export const peer = (o: PeerOptions = {}): Peer => new Peer(o);

// ----------------------------------------------------------------------- state builders

/** Options most state tests use: no timestamps, no window scaling, SACK on, no delayed ACK. */
export const PLAIN: PeerOptions = { tcp: { timestamps: false, wscale: false, delayedAck: false } };

/** LISTEN with a SYN|ACK answered: ESTABLISHED (passive), accepted, outputs drained. */
export function established(o: PeerOptions = PLAIN): Peer {
  const p = peer(o).listen()
    .send({ flags: SYN, seq: 0, opts: synOpts(o) })
    .send({ flags: ACK, seq: 1, ack: 1 })
    .accept();
  p.drain();
  return p;
}

/** The options a typical peer SYN carries for these peer options. */
export function synOpts(o: PeerOptions): TcpOption[] {
  const opts: TcpOption[] = [{ kind: 'mss', mss: 1460 }, { kind: 'sack-permitted' }];
  const ts = o.ts ?? o.tcp?.timestamps ?? true;
  if (ts) opts.push({ kind: 'timestamp', tsval: PEER_TS, tsecr: 0 });
  if (o.tcp?.wscale ?? true) opts.push({ kind: 'nop' }, { kind: 'wscale', shift: 7 });
  return opts;
}

/** Active open: SYN-SENT (our SYN drained). */
export function synSent(o: PeerOptions = PLAIN): Peer {
  return peer(o).connect().drain();
}

/** Passive open: SYN-RECEIVED (our SYN|ACK drained). */
export function synReceived(o: PeerOptions = PLAIN): Peer {
  return peer(o).listen().send({ flags: SYN, seq: 0, opts: synOpts(o) }).drain();
}

/** ESTABLISHED, then we shut down: FIN-WAIT-1 with our FIN (seq 1) sent. */
export function finWait1(o: PeerOptions = PLAIN): Peer {
  return established(o).call({ type: 'shutdown' }).drain();
}

/** FIN-WAIT-2: our FIN acknowledged. */
export function finWait2(o: PeerOptions = PLAIN): Peer {
  return finWait1(o).send({ flags: ACK, seq: 1, ack: 2 }).drain();
}

/** CLOSE-WAIT: the peer's FIN (seq 1) received and ACKed. */
export function closeWait(o: PeerOptions = PLAIN): Peer {
  return established(o).send({ flags: FIN | ACK, seq: 1, ack: 1 }).drain();
}

/** LAST-ACK: CLOSE-WAIT, then we shut down (our FIN seq 1 sent). */
export function lastAck(o: PeerOptions = PLAIN): Peer {
  return closeWait(o).call({ type: 'shutdown' }).drain();
}

/** CLOSING: both FINs crossed, ours not yet acknowledged. */
export function closing(o: PeerOptions = PLAIN): Peer {
  return finWait1(o).send({ flags: FIN | ACK, seq: 1, ack: 1 }).drain();
}

/** TIME-WAIT: FIN-WAIT-2, then the peer's FIN. */
export function timeWait(o: PeerOptions = PLAIN): Peer {
  return finWait2(o).send({ flags: FIN | ACK, seq: 1, ack: 2 }).drain();
}
