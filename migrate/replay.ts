// `ferry replay`: feed one side of a recorded TCP session (a pcap of a real kernel) into a
// ferry endpoint standing in for the other side, and compare ferry's answers with what the
// recorded endpoint actually sent.
//
// Model
// - The first connection in the capture (its first SYN) is replayed. `side` names the role
//   ferry takes ('server' or 'client'); the other side is "the peer", whose packets are fed in
//   at their recorded times (ferry's clock is the capture's, in ms from the first packet).
// - Ferry gets the recorded endpoint's address, port and SYN options (MSS, window scale,
//   SACK-permitted, timestamps), and a receive buffer as large as the largest window the
//   recorded endpoint advertised. Its ISS and TSval clock are its own, so the peer's packets
//   are translated as packetdrill does: ACK numbers and SACK blocks from the recorded
//   endpoint's sequence space into ferry's, TSecr from the recorded endpoint's TS clock into
//   ferry's; checksums are recomputed.
// - Ferry's application sends the recorded endpoint's byte stream, each piece once it has
//   read what the recorded endpoint had received when it first sent that piece (the ACK
//   field of that segment), and half-closes where the recorded endpoint sent its FIN.
// - Comparison: the recorded endpoint's packets and ferry's are grouped by the peer packet
//   they follow (capture order for the recording, feed order for ferry) and compared in order
//   within each group: flags, sequence number (relative to each one's own ISS), ACK (relative
//   to the peer's ISS), window in bytes (scaled), payload length. Extra and missing packets
//   are reported too. Timing is not compared (a delayed ACK that fires within the same gap is
//   the same answer).
import type { StackConfig, TcpSocketConfig } from '../stack/api.ts';
import { createStack, defaultStackConfig, stackNextDeadline, stackStep, type StackState } from '../stack/stack.ts';
import { buildSegment } from '../stack/tcp/output.ts';
import { addrSum } from '../stack/wire/addr-write.ts';
import { decodePacket } from '../stack/wire/packet.ts';
import { ACK, FIN, PSH, RST, SYN, tcpOptionsInfo, type TcpOption, type TcpSegment } from '../stack/wire/tcp.ts';
import { linkToIp, packetMs, readCaptureFile } from '../tun/pcap.ts';

export type Side = 'server' | 'client';

/** One packet as compared: numbers relative to ISSs, window in bytes. */
export interface Seg {
  t: number;
  flags: string;
  seq: number;
  ack: number;
  win: number;
  len: number;
}

export interface Row {
  /** Index of the peer packet this group follows (-1: before the first). */
  after: number;
  recorded: Seg | null;
  ferry: Seg | null;
  diffs: string[];
}

export interface ReplayReport {
  conn: string;
  side: Side;
  peerPackets: number;
  recordedPackets: number;
  ferryPackets: number;
  rows: Row[];
  /** Mismatch counts by field, plus 'missing' (recorded sent, ferry did not) and 'extra'. */
  mismatches: Record<string, number>;
  matched: number;
  /** Options on the recorded endpoint's SYN vs ferry's. */
  synOptions: { recorded: string; ferry: string };
  /** Window and ACK semantics over the whole session: advertised window range (bytes) and the highest ACK, recorded vs ferry. */
  semantics: { recorded: { winMin: number; winMax: number; lastAck: number; zeroWindows: number }; ferry: { winMin: number; winMax: number; lastAck: number; zeroWindows: number } };
  /** What the application saw at the end. */
  end: { ferryState: string; bytesReadByFerry: number; peerBytes: number; bytesSentByFerry: number; recordedBytes: number; streamMatches: boolean };
  notes: string[];
}

interface Pkt { t: number; src: string; dst: string; seg: TcpSegment }

const flagText = (f: number) => `${f & SYN ? 'S' : ''}${f & FIN ? 'F' : ''}${f & RST ? 'R' : ''}${f & PSH ? 'P' : ''}${f & ACK ? '.' : ''}` || '-';
const optText = (o: readonly TcpOption[]) => {
  const i = tcpOptionsInfo(o);
  return `mss ${i.mss ?? '-'}, wscale ${i.wscale ?? '-'}, sack ${i.sackPermitted ? 'yes' : 'no'}, ts ${i.ts ? 'yes' : 'no'}`;
};

/** Read a capture file into timed IP packets (ms from the first packet). */
export function loadCapture(path: string): { t: number; ip: Uint8Array }[] | string {
  const c = readCaptureFile(path);
  if (!c.ok) return `cannot read ${path}: ${c.error}`;
  const out: { t: number; ip: Uint8Array }[] = [];
  let t0: number | null = null;
  for (const p of c.value.packets) {
    const ip = linkToIp(p.linkType, p.data);
    if (!ip.ok) continue;
    const t = packetMs(p);
    t0 ??= t;
    out.push({ t: t - t0, ip: ip.value.ip.slice() });
  }
  return out;
}

/** Replay the first TCP connection of `packets` with ferry as `side`. Returns a report, or an error string. */
export function replayCapture(packets: readonly { t: number; ip: Uint8Array }[], side: Side): ReplayReport | string {
  const all: Pkt[] = [];
  for (const p of packets) {
    const d = decodePacket(p.ip);
    if (!d.ok || d.value.transport.proto !== 'tcp') continue;
    all.push({ t: p.t, src: d.value.ip.src, dst: d.value.ip.dst, seg: d.value.transport.tcp });
  }
  const syn = all.find((p) => (p.seg.flags & (SYN | ACK)) === SYN);
  if (syn === undefined) return 'no TCP SYN in the capture';
  const cli = { addr: syn.src, port: syn.seg.srcPort }, srv = { addr: syn.dst, port: syn.seg.dstPort };
  const inConn = (p: Pkt) => (p.src === cli.addr && p.seg.srcPort === cli.port && p.dst === srv.addr && p.seg.dstPort === srv.port)
    || (p.src === srv.addr && p.seg.srcPort === srv.port && p.dst === cli.addr && p.seg.dstPort === cli.port);
  const conn = all.filter(inConn);
  const me = side === 'server' ? srv : cli, peer = side === 'server' ? cli : srv;
  const fromMe = (p: Pkt) => p.src === me.addr && p.seg.srcPort === me.port;
  const recorded = conn.filter(fromMe), fromPeer = conn.filter((p) => !fromMe(p));
  const notes: string[] = [];

  // The recorded endpoint's ISS, options, TS clock, byte stream.
  const mySyn = recorded.find((p) => p.seg.flags & SYN) ?? null;
  const peerSyn = fromPeer.find((p) => p.seg.flags & SYN) ?? null;
  const peerIss = peerSyn?.seg.seq ?? null;
  const myIss = mySyn?.seg.seq ?? null;
  const myOpts = mySyn === null ? null : tcpOptionsInfo(mySyn.seg.options);
  const peerOpts = peerSyn === null ? null : tcpOptionsInfo(peerSyn.seg.options);
  const myShift = myOpts?.wscale !== null && myOpts?.wscale !== undefined && peerOpts?.wscale !== null && peerOpts?.wscale !== undefined ? myOpts.wscale : 0;
  const peerShift = myShift > 0 || (myOpts?.wscale != null && peerOpts?.wscale != null) ? peerOpts!.wscale! : 0;
  const myTs0 = recorded.map((p) => tcpOptionsInfo(p.seg.options).ts).find((x) => x !== null)?.tsval ?? null;
  const wndBytes = (p: Pkt, shift: number) => (p.seg.flags & SYN ? p.seg.window : p.seg.window * 2 ** shift);
  const maxWnd = Math.max(0, ...recorded.map((p) => wndBytes(p, myShift)));

  // Ferry's configuration: the recorded endpoint's address and SYN options.
  const base = defaultStackConfig([me.addr]);
  // The link MTU the recorded endpoint's MSS implies (RFC 9293 §3.7.1: MSS = MTU - 40, or -60
  // for IPv6), so ferry's segments are the recorded endpoint's size.
  const hdr = me.addr.includes(':') ? 60 : 40;
  const tcp: TcpSocketConfig = {
    ...base.tcp,
    mss: myOpts?.mss ?? null,
    mtu: myOpts?.mss != null ? myOpts.mss + hdr : base.tcp.mtu,
    timestamps: myOpts?.ts !== null && myOpts?.ts !== undefined,
    sack: myOpts?.sackPermitted ?? true,
    wscale: myOpts?.wscale !== null && myOpts?.wscale !== undefined,
    wscaleShift: myOpts?.wscale ?? null,
    rcvBuf: Math.max(4096, maxWnd),
  };
  const cfg: StackConfig = { ...base, tcp };
  const st: StackState = createStack(cfg, new Uint8Array(32).fill(7), 0);

  // The application: the recorded endpoint's stream, released as the recorded endpoint released
  // it. A piece is released once ferry has read what the recorded endpoint had received when it
  // first sent that piece (its ACK field), including the peer's FIN if that ACK covered it.
  const peerDataBytes = (() => {
    if (peerIss === null) return 0;
    let hi = 0;
    for (const p of fromPeer) if (p.seg.payload.length > 0) hi = Math.max(hi, ((p.seg.seq - peerIss) >>> 0) - 1 + p.seg.payload.length);
    return hi;
  })();
  interface Need { bytes: number; eof: boolean }
  const needOf = (p: Pkt): Need => {
    if (!(p.seg.flags & ACK) || peerIss === null) return { bytes: 0, eof: false };
    const got = ((p.seg.ack - peerIss) >>> 0) - 1;
    return { bytes: Math.min(got, peerDataBytes), eof: got > peerDataBytes };
  };
  const myData: { data: Uint8Array; need: Need }[] = [];
  let myFin: Need | null = null;
  let recordedBytes = 0;
  if (myIss !== null && peerIss !== null) {
    // First transmissions, in sequence order (a capture may show a retransmission before the
    // segments after a hole).
    const segs = recorded.filter((p) => p.seg.payload.length > 0)
      .map((p) => ({ rel: (p.seg.seq - myIss) >>> 0, p }))
      .sort((x, y) => x.rel - y.rel || x.p.t - y.p.t);
    let next = 1;
    for (const { rel, p } of segs) {
      const len = p.seg.payload.length;
      if (rel > next) { notes.push(`the recorded stream has a hole at byte ${next - 1} (not captured): the stream is cut there`); break; }
      if (rel + len <= next) continue;
      myData.push({ data: p.seg.payload.slice(next - rel), need: needOf(p) });
      next = rel + len;
    }
    recordedBytes = next - 1;
    const fin = recorded.find((p) => p.seg.flags & FIN);
    if (fin !== undefined) myFin = needOf(fin);
  }

  let id: string | null = null;
  let read = 0, written = 0, shut = false, pieces = 0, eof = false;
  const ready = (n: Need) => read >= n.bytes && (!n.eof || eof);
  const sentStream: Uint8Array[] = [];
  const ferryOut: { t: number; pkt: Uint8Array; after: number }[] = [];
  let now = 0;
  let after = -1;
  const step = (ev: Parameters<typeof stackStep>[1]) => {
    const r = stackStep(st, ev, now);
    for (const o of r.out) ferryOut.push({ t: now, pkt: o, after });
    for (const e of r.events) {
      if (e.type === 'accept-ready' && id === null) {
        const a = stackStep(st, { type: 'accept', listener: e.listener }, now);
        if (a.result.ok && a.result.id !== null) id = a.result.id;
      }
      if (e.type === 'closed' && id !== null && e.id === id) appPump(true);
    }
    appPump(false);
    return r.result;
  };
  let pumping = false;
  const appPump = (closedNow: boolean) => {
    if (id === null || pumping) return;
    pumping = true;
    try {
      for (;;) {
        const r = stackStep(st, { type: 'recv', id, max: 1 << 20 }, now);
        for (const o of r.out) ferryOut.push({ t: now, pkt: o, after });
        if (!r.result.ok) break;
        read += r.result.data.length;
        if (r.result.eof) eof = true;
        if (r.result.data.length === 0) break;
      }
      while (pieces < myData.length && ready(myData[pieces]!.need)) {
        const piece = myData[pieces]!;
        const r = stackStep(st, { type: 'send', id, data: piece.data }, now);
        for (const o of r.out) ferryOut.push({ t: now, pkt: o, after });
        if (!r.result.ok) { notes.push(`send failed: ${r.result.code}`); pieces = myData.length; break; }
        if (r.result.bytes < piece.data.length) { notes.push('ferry\'s send buffer filled: the rest of the stream waits'); piece.data = piece.data.slice(r.result.bytes); sentStream.push(piece.data.subarray(0, 0)); break; }
        sentStream.push(piece.data);
        written += piece.data.length;
        pieces++;
      }
      if (!shut && myFin !== null && pieces === myData.length && ready(myFin)) {
        shut = true;
        const r = stackStep(st, { type: 'shutdown', id }, now);
        for (const o of r.out) ferryOut.push({ t: now, pkt: o, after });
      }
      void closedNow;
    } finally {
      pumping = false;
    }
  };

  // Passive side listens (unless the recorded server refused the SYN with a RST: then no listener).
  const refused = side === 'server' && recorded.some((p) => (p.seg.flags & RST) !== 0) && mySyn === null;
  if (side === 'server' && !refused) {
    const l = step({ type: 'listen', addr: me.addr, port: me.port, backlog: 8 });
    if (!(l as { ok: boolean }).ok) return `ferry could not listen on ${me.addr}:${me.port}`;
  }
  if (refused) notes.push('the recorded server refused the connection (RST): ferry has no listener either');

  // Translation of the peer's packets into ferry's sequence and timestamp spaces.
  const ferrySyn = () => ferryOut.map((o) => decodePacket(o.pkt)).find((d) => d.ok && d.value.transport.proto === 'tcp' && (d.value.transport.tcp.flags & SYN));
  const ferryIss = (): number | null => {
    const d = ferrySyn();
    return d && d.ok && d.value.transport.proto === 'tcp' ? d.value.transport.tcp.seq : null;
  };
  const ferryTs0 = (): number | null => {
    const d = ferrySyn();
    if (!d || !d.ok || d.value.transport.proto !== 'tcp') return null;
    return tcpOptionsInfo(d.value.transport.tcp.options).ts?.tsval ?? null;
  };
  const translate = (p: Pkt): Uint8Array => {
    const fIss = ferryIss();
    const shiftSeq = (x: number) => (myIss === null || fIss === null ? x : (x - myIss + fIss) >>> 0);
    const ts0 = ferryTs0();
    const options: TcpOption[] = p.seg.options.map((o) => {
      if (o.kind === 'sack') return { kind: 'sack', blocks: o.blocks.map((b) => ({ left: shiftSeq(b.left), right: shiftSeq(b.right) })) };
      if (o.kind === 'timestamp' && o.tsecr !== 0 && myTs0 !== null && ts0 !== null) return { kind: 'timestamp', tsval: o.tsval, tsecr: (o.tsecr - myTs0 + ts0) >>> 0 };
      return o;
    });
    const seg: TcpSegment = { ...p.seg, ack: p.seg.flags & ACK ? shiftSeq(p.seg.ack) : p.seg.ack, options };
    return buildSegment({ src: p.src, dst: p.dst, v6: p.src.includes(':'), psum: addrSum(p.src) + addrSum(p.dst) + 6, ttl: 64 }, seg);
  };

  // Run the timeline: ticks due before each peer packet, then the packet.
  const runUntil = (t: number) => {
    for (let guard = 0; guard < 100000; guard++) {
      const d = stackNextDeadline(st);
      if (d === null || d > t) break;
      now = Math.max(now, d);
      step({ type: 'tick' });
    }
    now = Math.max(now, t);
  };
  if (side === 'client') {
    // Ferry connects when the recorded client sent its SYN.
    now = mySyn?.t ?? 0;
    const c = step({ type: 'connect', local: me.addr, localPort: me.port, remote: peer.addr, port: peer.port });
    if (!(c as { ok: boolean }).ok) return `ferry could not connect: ${(c as { code: string }).code}`;
    id = (c as { id: string }).id;
  }
  fromPeer.forEach((p, i) => {
    runUntil(p.t);
    after = i;
    step({ type: 'packet', data: translate(p) });
  });
  const tEnd = Math.max(0, ...conn.map((p) => p.t));
  runUntil(tEnd + 1000);

  // Compare, group by group.
  const fIss = ferryIss();
  const fShift = (() => {
    const d = ferrySyn();
    if (!d || !d.ok || d.value.transport.proto !== 'tcp') return 0;
    const w = tcpOptionsInfo(d.value.transport.tcp.options).wscale;
    return w !== null && peerOpts?.wscale != null ? w : 0;
  })();
  const summarize = (t: number, s: TcpSegment, iss: number | null, shift: number): Seg => ({
    t, flags: flagText(s.flags),
    seq: iss === null ? s.seq : (s.seq - iss) | 0,
    ack: s.flags & ACK && peerIss !== null ? (s.ack - peerIss) | 0 : 0,
    win: s.flags & SYN ? s.window : s.window * 2 ** shift,
    len: s.payload.length,
  });
  const peerIndex = new Map(fromPeer.map((p, i) => [p, i]));
  const recSegs: (Seg & { after: number })[] = [];
  let lastPeer = -1;
  for (const p of conn) {
    const pi = peerIndex.get(p);
    if (pi !== undefined) { lastPeer = pi; continue; }
    recSegs.push({ ...summarize(p.t, p.seg, myIss, myShift), after: lastPeer });
  }
  const ferSegs: (Seg & { after: number })[] = [];
  let firstFerrySyn: TcpSegment | null = null;
  for (const o of ferryOut) {
    const d = decodePacket(o.pkt);
    if (!d.ok || d.value.transport.proto !== 'tcp') continue;
    const s = d.value.transport.tcp;
    if ((s.flags & SYN) && firstFerrySyn === null) firstFerrySyn = s;
    ferSegs.push({ ...summarize(o.t, s, fIss, fShift), after: o.after });
  }
  const ferryCount = ferSegs.length;
  // Align the two lists (longest common subsequence on what a packet is for: the sequence range
  // it carries, or for a pure ACK what it acknowledges), then compare the aligned pairs field by field.
  const key = (x: Seg) => (x.len > 0 || /[SFR]/.test(x.flags) ? `d${x.seq}:${x.len}:${x.flags.replace(/[P.]/g, '')}` : `a${x.ack}`);
  const pairs = align(recSegs.map(key), ferSegs.map(key));
  const rows: Row[] = [];
  const mismatches: Record<string, number> = {};
  let matched = 0;
  const push = (r: (Seg & { after: number }) | null, f: (Seg & { after: number }) | null) => {
    const diffs: string[] = [];
    if (r === null) diffs.push('extra');
    else if (f === null) diffs.push('missing');
    else {
      if (r.flags !== f.flags) diffs.push('flags');
      if (r.seq !== f.seq) diffs.push('seq');
      if (r.ack !== f.ack) diffs.push('ack');
      if (r.win !== f.win) diffs.push('window');
      if (r.len !== f.len) diffs.push('len');
    }
    for (const d of diffs) mismatches[d] = (mismatches[d] ?? 0) + 1;
    if (diffs.length === 0) matched++;
    rows.push({ after: (r ?? f)!.after, recorded: r, ferry: f, diffs });
  };
  let i = 0, j = 0;
  for (const [pi, pj] of [...pairs, [recSegs.length, ferSegs.length] as [number, number]]) {
    // Unmatched runs before the next pair: pair them up positionally (a changed answer), the rest are missing/extra.
    while (i < pi && j < pj) push(recSegs[i++]!, ferSegs[j++]!);
    while (i < pi) push(recSegs[i++]!, null);
    while (j < pj) push(null, ferSegs[j++]!);
    if (pi < recSegs.length && pj < ferSegs.length) push(recSegs[i++]!, ferSegs[j++]!);
  }

  const sem = (xs: readonly Seg[]) => {
    const w = xs.filter((x) => !x.flags.includes('S') && !x.flags.includes('R')).map((x) => x.win);
    return {
      winMin: w.length ? Math.min(...w) : 0, winMax: w.length ? Math.max(...w) : 0,
      lastAck: Math.max(0, ...xs.map((x) => x.ack)), zeroWindows: w.filter((x) => x === 0).length,
    };
  };
  const t = id === null ? undefined : st.tcp[id];
  const sent = concat(sentStream);
  const recStream = concat(myData.map((d) => d.data));
  return {
    conn: `${cli.addr}:${cli.port} → ${srv.addr}:${srv.port}`,
    side, peerPackets: fromPeer.length, recordedPackets: recorded.length, ferryPackets: ferryCount,
    rows, mismatches, matched,
    semantics: { recorded: sem(recSegs), ferry: sem(ferSegs) },
    synOptions: { recorded: mySyn === null ? 'none' : optText(mySyn.seg.options), ferry: firstFerrySyn === null ? 'none' : optText(firstFerrySyn.options) },
    end: {
      ferryState: t === undefined ? (id === null ? 'no connection' : 'gone (closed)') : t.state,
      bytesReadByFerry: read, peerBytes: peerDataBytes, bytesSentByFerry: written, recordedBytes,
      streamMatches: written === recordedBytes && bytesEq(sent, recStream.subarray(0, written)),
    },
    notes,
  };
}

/** Index pairs of a longest common subsequence of `a` and `b` (O(n·m); greedy beyond 4M cells). */
export function align(a: readonly string[], b: readonly string[]): [number, number][] {
  const n = a.length, m = b.length;
  if (n * m > 4_000_000) {
    const out: [number, number][] = [];
    let j = 0;
    for (let i = 0; i < n && j < m; i++) {
      const k = b.indexOf(a[i]!, j);
      if (k >= 0 && k - j < 64) { out.push([i, k]); j = k + 1; }
    }
    return out;
  }
  const L = new Uint32Array((n + 1) * (m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      L[i * (m + 1) + j] = a[i] === b[j] ? L[(i + 1) * (m + 1) + j + 1]! + 1 : Math.max(L[(i + 1) * (m + 1) + j]!, L[i * (m + 1) + j + 1]!);
    }
  }
  const out: [number, number][] = [];
  let i = 0, j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) { out.push([i, j]); i++; j++; }
    else if (L[(i + 1) * (m + 1) + j]! >= L[i * (m + 1) + j + 1]!) i++;
    else j++;
  }
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

function bytesEq(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The report as text: header, divergent rows (all rows with `all`), summary. */
export function formatReport(file: string, r: ReplayReport, all = false): string[] {
  const L: string[] = [];
  const seg = (s: Seg | null) => (s === null ? '—' : `${s.flags.padEnd(3)} seq ${s.seq} ack ${s.ack} win ${s.win} len ${s.len}`);
  L.push(`${file}: ${r.conn}, ferry as ${r.side}`);
  L.push(`  SYN options: recorded ${r.synOptions.recorded}; ferry ${r.synOptions.ferry}`);
  L.push(`  packets: peer ${r.peerPackets} fed; recorded ${r.side} ${r.recordedPackets}; ferry ${r.ferryPackets}`);
  L.push('  after-peer-pkt  recorded                                         ferry                                            diverges in');
  for (const row of r.rows) {
    if (!all && row.diffs.length === 0) continue;
    L.push(`  ${String(row.after).padStart(14)}  ${seg(row.recorded).padEnd(48)} ${seg(row.ferry).padEnd(48)} ${row.diffs.join(', ') || 'same'}`);
  }
  const m = Object.entries(r.mismatches).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  L.push(`  summary: ${r.matched} of ${r.rows.length} answers identical in flags/seq/ack/window/len; divergences: ${m}`);
  const sr = r.semantics.recorded, sf = r.semantics.ferry;
  L.push(`  windows (bytes): recorded ${sr.winMin}..${sr.winMax}${sr.zeroWindows ? `, ${sr.zeroWindows} zero` : ''}; ferry ${sf.winMin}..${sf.winMax}${sf.zeroWindows ? `, ${sf.zeroWindows} zero` : ''}`);
  L.push(`  highest ACK (relative): recorded ${sr.lastAck}, ferry ${sf.lastAck}${sr.lastAck === sf.lastAck ? ' (same)' : ' (DIFFERENT)'}`);
  const e = r.end;
  L.push(`  end: ferry ${e.ferryState}; read ${e.bytesReadByFerry} of the peer's ${e.peerBytes} bytes; sent ${e.bytesSentByFerry} of the recorded ${e.recordedBytes} bytes${e.streamMatches ? ' (identical stream)' : ' (STREAM DIFFERS)'}`);
  for (const n of r.notes) L.push(`  note: ${n}`);
  return L;
}
