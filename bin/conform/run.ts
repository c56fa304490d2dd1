// Runs one packetdrill script against a ferry stack on a virtual clock (no real sleeping).
//
// Semantics follow packetdrill's (paper and documentation):
//   - Each event has a script time; relative times count from the end of the previous event,
//     except that consecutive inbound packets chain on each other's script times.
//   - `<` lines are injected at their time; `>` lines take the oldest packet the stack sent and
//     not yet matched (waiting in virtual time if there is none) and check every field written,
//     and the send time within --tolerance_usecs.
//   - A system call without `...` must return at once; `start...end` calls block and must
//     return at `end`. Syscalls map onto the pure stack API through sockets.ts.
// On top of packetdrill, the runner is strict about packets nobody expected: when the script
// moves to an event at time T while a packet sent before T - tolerance is still unmatched (and
// the `>` line that would match it is not a `*` line), the script fails with "unexpected packet".
// Packets sent at or after the last event are ignored, as packetdrill ends there.
import type { AppEvent, StackState } from '../../stack/api.ts';
import { createStack, stackNextDeadline, stackStep } from '../../stack/stack.ts';
import type { ScriptEvent, Script, TimeSpec, Usecs } from './ast.ts';
import { parseScript } from './parse.ts';
import { applySysctl, ADDRS, makeEnv, type Env, type ProfileName } from './profile.ts';
import {
  buildInboundIcmp, buildInboundTcp, checkOutbound, decodeOutbound, describeOutbound, inboundUnsupported,
  newSeqMap, type Endpoints, type Outbound, type SeqMap, type Wrap,
} from './packets.ts';
import { Sockets } from './sockets.ts';

export type Status = 'pass' | 'fail' | 'not-runnable';

/** The first mismatch of a failed script. */
export interface Mismatch {
  /** Line of the script event that failed (0 when not tied to a line). */
  line: number;
  /** The script line (what was expected). */
  expected: string;
  /** What ferry did instead. */
  actual: string;
  /** Virtual time of the mismatch (seconds). */
  time: number;
}

export interface Outcome {
  status: Status;
  /** Not runnable: why (an unsupported construct or setting); failed: a one-line summary. */
  reason: string | null;
  failure: Mismatch | null;
  notes: string[];
  /** With RunOptions.trace: what happened, line by line. */
  trace?: string[];
}

export interface RunOptions {
  profile: ProfileName;
  /** `#ifdef` symbols; default: the profile's. */
  defines?: string[];
  /** Upper bound on virtual time spent waiting for one `*` packet (µs). */
  anyWaitUsecs?: number;
  /** Record a trace of every event and packet (Outcome.trace). */
  trace?: boolean;
  /**
   * Diagnostics only: checks to skip, to see what a script does past a known difference
   * ('win': window fields, 'timing': send times). A run with skipped checks proves nothing.
   */
  ignore?: ('win' | 'timing')[];
}

/** Symbols defined for `#ifdef`: the suite's STANDARD branches follow the RFCs, which ferry implements. */
export const DEFAULT_DEFINES = ['STANDARD'];

export class ScriptFailure extends Error {
  constructor(readonly mismatch: Mismatch) { super(mismatch.actual); }
}
export class NotRunnable extends Error {
  constructor(readonly why: string, readonly line: number) { super(why); }
}

const SECRET = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
const sec = (us: number) => Math.round(us) / 1e6;

export function runScriptText(src: string, opts: RunOptions): Outcome {
  const parsed = parseScript(src, opts.defines ?? DEFAULT_DEFINES);
  if (!parsed.ok) return { status: 'not-runnable', reason: `parse error at line ${parsed.line}: ${parsed.error}`, failure: null, notes: [] };
  let r: Runner;
  try {
    r = new Runner(parsed.script, opts);
  } catch (e) {
    if (e instanceof NotRunnable) return { status: 'not-runnable', reason: lineReason(e), failure: null, notes: [] };
    throw e;
  }
  return r.run();
}

const lineReason = (e: NotRunnable) => (e.line > 0 ? `line ${e.line}: ${e.why}` : e.why);

/** A packet the stack sent and no `>` line has matched yet. */
interface Pending { pkt: Outbound; raw: Uint8Array }

export class Runner {
  readonly env: Env;
  readonly tol: Usecs;
  readonly v6: boolean;
  readonly local: string;
  readonly remote: string;
  st!: StackState;
  /** Virtual time (µs). */
  now: Usecs = 0;
  readonly queue: Pending[] = [];
  map: SeqMap = newSeqMap();
  ep: Endpoints;
  readonly socks: Sockets;
  private idx = 0;
  /** Script time of the previous event, and whether it was an inbound packet (for relative times). */
  private prevTime: Usecs = 0;
  private prevInbound = false;
  private readonly anyWait: Usecs;
  /** Non-fatal classes (--non_fatal=syscall): mismatches become notes. */
  private readonly nonFatal: Set<string> = new Set();
  private nextRemotePort = 40000;
  /** --udp_encapsulation=tcp: every segment travels inside UDP (FreeBSD TCP over UDP). */
  readonly udpEncap: boolean = false;
  /** --tcp_md5_secret: the key of the script's TCP-MD5 security associations (RFC 2385). */
  readonly md5Secret: Uint8Array | null = null;

  constructor(readonly script: Script, readonly opts: RunOptions) {
    let ipVersion = 'ipv4', tolerance = 4000, mtu = 1500;
    let local: string | null = null, remote: string | null = null, tsTick: number | null = null;
    for (const o of script.options) {
      switch (o.name) {
        case 'ip_version': ipVersion = o.value; break;
        case 'tolerance_usecs': tolerance = Number(o.value); break;
        case 'mtu': mtu = Number(o.value); break;
        case 'local_ip': local = o.value; break;
        case 'remote_ip': remote = o.value; break;
        case 'tcp_ts_tick_usecs': tsTick = Number(o.value); break;
        case 'non_fatal': for (const c of o.value.split(',')) this.nonFatal.add(c); break;
        case 'udp_encapsulation':
          if (o.value !== 'tcp') throw new NotRunnable(`--udp_encapsulation=${o.value}: only tcp is supported`, o.line);
          this.udpEncap = true;
          break;
        case 'tcp_md5_secret': this.md5Secret = new TextEncoder().encode(o.value); break;
        case 'bind_port': case 'connect_port':
          if (Number(o.value) !== 8080) throw new NotRunnable(`--${o.name} other than 8080 is not supported by the runner`, o.line);
          break;
        default: break; // other packetdrill options (verbosity, device names, wire mode) do not change the test
      }
    }
    if (!Number.isFinite(tolerance) || tolerance < 0) throw new NotRunnable(`bad --tolerance_usecs=${tolerance}`, 0);
    if (ipVersion !== 'ipv4' && ipVersion !== 'ipv6' && ipVersion !== 'ipv4-mapped-ipv6') throw new NotRunnable(`unknown --ip_version=${ipVersion}`, 0);
    this.v6 = ipVersion === 'ipv6';
    this.tol = tolerance;
    this.env = makeEnv(opts.profile, mtu);
    if (tsTick !== null) this.env.tsTickUsecs = tsTick;
    const a = ADDRS[this.v6 ? 6 : 4];
    this.local = local ?? a.local;
    this.remote = remote ?? a.remote;
    this.ep = { local: this.local, remote: this.remote, localPort: 8080, remotePort: this.nextRemotePort };
    this.anyWait = opts.anyWaitUsecs ?? 600e6;
    this.socks = new Sockets(this);
    this.trace = opts.trace === true ? [] : null;
    if (script.initCommand !== null && !this.md5KeyCommand(script.initCommand)) {
      throw new NotRunnable(`init command \`${script.initCommand.trim().slice(0, 60)}\` is not supported`, 0);
    }
  }

  /**
   * The suite's init command for TCP-MD5 scripts loads tcpmd5 and adds one `tcp-md5` security
   * association per direction with setkey(8). ferry keeps TCP-MD5 keys per socket (TCP_MD5SIG
   * gives the socket the script's --tcp_md5_secret), so the command is accepted when every key it
   * adds is that secret, between the script's two addresses.
   */
  private md5KeyCommand(cmd: string): boolean {
    if (this.md5Secret === null || !/\bsetkey\b/.test(cmd)) return false;
    const adds = [...cmd.matchAll(/add\s+(\S+)\s+(\S+)\s+tcp\s+\S+\s+-A\s+tcp-md5\s+"([^"]*)"/g)];
    if (adds.length === 0) return false;
    const secret = new TextDecoder().decode(this.md5Secret);
    const ends = new Set([this.local.toLowerCase(), this.remote.toLowerCase()]);
    return adds.every((m) => m[3] === secret && ends.has(m[1]!.toLowerCase()) && ends.has(m[2]!.toLowerCase()));
  }

  /** UDP ports of encapsulated segments: ours is the tunnelling port; the peer's defaults to the same number. */
  udpPorts(): { localPort: number; remotePort: number } | null {
    if (!this.udpEncap) return null;
    const port = this.env.stack.tcpOverUdp?.port ?? this.env.sysctl['net.inet.tcp.udp_tunneling_port'] ?? 0;
    const p = port === 0 ? 9811 : port;
    return { localPort: p, remotePort: p };
  }

  wrap(): Wrap {
    return { udp: this.udpPorts(), md5Key: this.md5Secret };
  }

  // ------------------------------------------------------------------------ driving the stack

  /** Feed one event to the stack at the current virtual time; queue packets, dispatch app events. */
  step<E extends Parameters<typeof stackStep>[1]>(ev: E) {
    const r = stackStep(this.st, ev, this.now / 1000);
    for (const raw of r.out) this.sent(raw);
    this.socks.onEvents(r.events as AppEvent[]);
    this.afterStep();
    return r.result;
  }

  private afterStep(): void {
    this.socks.pollBlocking();
  }

  readonly trace: string[] | null;

  log(msg: string): void {
    if (this.trace !== null) this.trace.push(`${sec(this.now).toFixed(6)} ${msg}`);
  }

  private sent(raw: Uint8Array): void {
    const pkt = decodeOutbound(raw, this.now);
    this.queue.push({ pkt, raw });
    if (this.trace !== null) this.log(`ferry sent ${this.describe(pkt)}`);
  }

  /** Copy stack-wide settings from the environment into the running stack (sysctl changes). */
  syncStackConfig(): void {
    const from = this.env.stack as unknown as Record<string, unknown>;
    const to = this.st.config as unknown as Record<string, unknown>;
    for (const k of ['rfc5961', 'rstForClosedPorts', 'syncookies', 'challengeAckLimit', 'dropSynFin', 'rfc5961Rst', 'rfc5961Syn', 'icmpHardErrors',
      'softErrorsAbortConnecting', 'tcpOverUdp']) {
      if (k in from) to[k] = from[k];
    }
  }

  /** Advance virtual time to `t`, firing every stack deadline on the way (in order). */
  advanceTo(t: Usecs, stopOnPacket = false): void {
    let guard = 0;
    for (;;) {
      if (stopOnPacket && this.queue.length > 0) return;
      const d = stackNextDeadline(this.st);
      if (d === null) break;
      const dUs = Math.max(this.now, Math.ceil(d * 1000));
      if (dUs > t) break;
      this.now = dUs;
      this.step({ type: 'tick' });
      if (++guard > 200000) throw new Error('stack timers do not make progress');
    }
    if (stopOnPacket && this.queue.length > 0) return;
    if (t > this.now) this.now = t;
    this.socks.pollBlocking();
  }

  fail(e: ScriptEvent | null, actual: string, time: Usecs = this.now): never {
    throw new ScriptFailure({ line: e?.line ?? 0, expected: e?.text ?? '', actual, time: sec(time) });
  }

  notRunnable(e: ScriptEvent | null, why: string): never {
    throw new NotRunnable(why, e?.line ?? 0);
  }

  /** A mismatch of a system call: fatal unless --non_fatal=syscall. */
  syscallMismatch(e: ScriptEvent, actual: string): void {
    if (this.nonFatal.has('syscall')) { this.env.notes.push(`line ${e.line}: ${actual} (non-fatal)`); return; }
    this.fail(e, actual);
  }

  /** Start a new connection under test (after listen or connect): fresh sequence map and ports. */
  newConnection(localPort: number, remotePort: number): void {
    this.map = newSeqMap();
    this.ep = { ...this.ep, localPort, remotePort };
  }

  /** A listening socket gets its child's remote port when the first packet for it arrives. */
  allocRemotePort(): number {
    this.nextRemotePort++;
    return this.nextRemotePort;
  }

  // ------------------------------------------------------------------------ the script

  run(): Outcome {
    try {
      this.st = createStack({ ...this.env.stack, addresses: [this.local], tcp: this.env.tcp }, SECRET, 0);
      const evs = this.script.events;
      if (evs.length > 0 && evs[0]!.time.kind === 'abs' && evs[0]!.time.t !== 0) {
        this.env.notes.push(`first event at ${sec(evs[0]!.time.t)} s, not 0`);
      }
      for (this.idx = 0; this.idx < evs.length; this.idx++) this.event(evs[this.idx]!);
      this.finish();
      return { status: 'pass', reason: null, failure: null, notes: this.env.notes, ...this.traced() };
    } catch (e) {
      if (e instanceof ScriptFailure) {
        return { status: 'fail', reason: e.mismatch.actual, failure: e.mismatch, notes: this.env.notes, ...this.traced() };
      }
      if (e instanceof NotRunnable) return { status: 'not-runnable', reason: lineReason(e), failure: null, notes: this.env.notes, ...this.traced() };
      const msg = e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e);
      const ev = this.script.events[this.idx] ?? null;
      return {
        status: 'fail', reason: `runner or stack threw: ${msg.split('\n')[0]}`,
        failure: { line: ev?.line ?? 0, expected: ev?.text ?? '', actual: `exception: ${msg}`, time: sec(this.now) },
        notes: this.env.notes, ...this.traced(),
      };
    }
  }

  private traced(): { trace?: string[] } {
    return this.trace === null ? {} : { trace: this.trace };
  }

  /** Scheduled script time (and range end) of an event. */
  private when(e: ScriptEvent): { t: Usecs; end: Usecs; any: boolean } {
    const inbound = (e.type === 'tcp' || e.type === 'icmp') && e.dir === '<';
    const base = this.prevInbound && inbound ? this.prevTime : this.now;
    const ts: TimeSpec = e.time;
    switch (ts.kind) {
      case 'abs': return { t: ts.t, end: ts.t, any: false };
      case 'rel': return { t: base + ts.t, end: base + ts.t, any: false };
      case 'any': return { t: this.now, end: this.now, any: true };
      case 'abs-range': return { t: ts.t, end: ts.end, any: false };
      case 'rel-range': return { t: base + ts.t, end: base + ts.end, any: false };
    }
  }

  private event(e: ScriptEvent): void {
    const w = this.when(e);
    if (this.trace !== null) this.log(`line ${e.line} (at ${sec(w.t)}${w.any ? ' any' : ''}): ${e.text}`);
    const outbound = (e.type === 'tcp' || e.type === 'icmp') && e.dir === '>';
    if (outbound) {
      this.expectPacket(e, w);
    } else {
      if (!w.any && this.now > w.end + this.tol) {
        this.fail(e, `the script reached this event at ${sec(this.now)} s, after its time ${sec(w.t)} s (tolerance ${this.tol / 1e6} s)`);
      }
      this.advanceTo(Math.max(w.t, this.now));
      this.checkUnexpected(e);
      this.perform(e, w.t);
    }
    this.prevTime = w.any ? this.now : w.t;
    this.prevInbound = (e.type === 'tcp' || e.type === 'icmp') && e.dir === '<';
  }

  /** Packets sent before now - tolerance that no upcoming `>` line can still accept. */
  private checkUnexpected(e: ScriptEvent): void {
    if (this.queue.length === 0) return;
    const upcoming: ScriptEvent[] = [];
    for (let j = this.idx; j < this.script.events.length && upcoming.length < this.queue.length; j++) {
      const x = this.script.events[j]!;
      if ((x.type === 'tcp' || x.type === 'icmp') && x.dir === '>') upcoming.push(x);
    }
    for (let i = 0; i < this.queue.length; i++) {
      const p = this.queue[i]!;
      if (upcoming[i]?.time.kind === 'any') continue;
      if (p.pkt.time < this.now - this.tol) {
        this.fail(e, `unexpected packet: ${this.describe(p.pkt)} sent at ${sec(p.pkt.time)} s, before this event at ${sec(this.now)} s`, p.pkt.time);
      }
    }
  }

  describe(p: Outbound): string {
    return describeOutbound(p, this.map);
  }

  private expectPacket(e: ScriptEvent, w: { t: Usecs; end: Usecs; any: boolean }): void {
    if (e.type !== 'tcp') this.notRunnable(e, 'outbound ICMP lines are not supported');
    if (this.queue.length === 0) {
      const limit = w.any ? this.now + this.anyWait : w.end + this.tol;
      this.advanceTo(limit, true);
      if (this.queue.length === 0) {
        // Look a little further, to say whether it came late or not at all.
        if (!w.any) this.advanceTo(limit + 10e6, true);
        const late = this.queue[0];
        if (late !== undefined) {
          this.fail(e, `${this.describe(late.pkt)} sent at ${sec(late.pkt.time)} s, later than expected (${sec(w.t)} s, tolerance ${this.tol / 1e6} s)`, late.pkt.time);
        }
        this.fail(e, `no packet sent (waited until ${sec(limit)} s)`, limit);
      }
    }
    const p = this.queue.shift()!;
    const learn = this.map.localIsnLive === null;
    const ignore = this.opts.ignore ?? [];
    const spec = ignore.includes('win') ? { ...e.tcp, win: null } : e.tcp;
    const diffs = checkOutbound(spec, e.ip, p.pkt, {
      map: this.map, ep: this.ep, v6: this.v6, toleranceUsecs: ignore.includes('timing') ? Infinity : this.tol, tsTickUsecs: this.env.tsTickUsecs,
      wrap: this.wrap(),
    }, learn);
    if (diffs.length > 0) this.fail(e, `${this.describe(p.pkt)} [${diffs.join('; ')}]`, p.pkt.time);
    if (!w.any && !ignore.includes('timing') && (p.pkt.time < w.t - this.tol || p.pkt.time > w.end + this.tol)) {
      const when = w.end === w.t ? `${sec(w.t)} s` : `${sec(w.t)}~${sec(w.end)} s`;
      this.fail(e, `${this.describe(p.pkt)} sent at ${sec(p.pkt.time)} s, expected at ${when} (tolerance ${this.tol / 1e6} s)`, p.pkt.time);
    }
    if (p.pkt.time > this.now) this.now = p.pkt.time;
  }

  private perform(e: ScriptEvent, t: Usecs): void {
    switch (e.type) {
      case 'tcp': {
        const why = inboundUnsupported(e.tcp, e.ip);
        if (why !== null) this.notRunnable(e, why);
        this.socks.beforeInbound();
        const pkt = buildInboundTcp(e.tcp, e.ip, this.ep, this.map, this.wrap());
        if (typeof pkt === 'string') this.notRunnable(e, pkt);
        this.step({ type: 'packet', data: pkt });
        return;
      }
      case 'icmp': {
        const why = inboundUnsupported(null, e.ip);
        if (why !== null) this.notRunnable(e, why);
        const pkt = buildInboundIcmp(e.icmp, e.ip, this.ep, this.map, this.v6);
        if (typeof pkt === 'string') this.notRunnable(e, pkt);
        this.step({ type: 'packet', data: pkt });
        return;
      }
      case 'syscall': this.socks.syscall(e, t); return;
      case 'command': this.socks.command(e); return;
      case 'code': this.socks.code(e); return;
    }
  }

  private finish(): void {
    const b = this.socks.blocking;
    if (b !== null) {
      this.advanceTo(b.end + this.tol);
      if (this.socks.blocking !== null) this.fail(b.event, `blocking call did not return by ${sec(b.end + this.tol)} s`);
    }
    if (this.queue.length > 0) {
      this.env.notes.push(`after the last event ferry sent: ${this.queue.map((p) => `${this.describe(p.pkt)} at ${sec(p.pkt.time)} s`).join('; ')} (not checked, as in packetdrill)`);
    }
    if (this.script.cleanupCommand !== null) this.env.notes.push('cleanup command not run');
  }
}
