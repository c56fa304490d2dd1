// Scripted-peer harness for SCTP state tests (STYLE.md §5): the test plays the remote
// endpoint chunk by chunk against one ferry SCTP stack on a virtual clock.
//   peer().listen().send([init()]).recv({ type: 'INIT-ACK' }).at(1000).tick().recv()
// `.send(chunks)` builds one packet from the peer (tag PEER_TAG's counterpart: the stack's own
// tag, learned from its INIT / INIT ACK), `.recv(...specs)` asserts that the stack sent exactly
// these chunks since the last recv (fields not given are not compared), and every step checks
// that the whole stack state survives migrate/codec.ts unchanged.
import * as assert from 'uvu/assert';
import { roundTrip } from '../../migrate/codec.ts';
import { createSctpStack, defaultSctpStackConfig, sctpStackStep, type AssocId, type SctpAppEvent, type SctpEvent } from '../../stack/sctp/api.ts';
import type { Assoc, SctpAssocConfig } from '../../stack/sctp/assoc.ts';
import type { SctpStackConfig, SctpEncap, SctpOut } from '../../stack/sctp/events.ts';
import type { SctpStackState } from '../../stack/sctp/state.ts';
import {
  emitSctp, initChunk, parseSctp, sctpBufferLen, cookieEchoChunk, dataChunk, forwardTsnSupportedParam, supportedExtensionsParam,
  type SctpChunk, type SctpParam,
} from '../../stack/wire/sctp.ts';

export const LOCAL = '10.0.0.1', REMOTE = '10.0.0.2', REMOTE2 = '10.0.1.2', LOCAL2 = '10.0.1.1';
export const LPORT = 5000, RPORT = 40000;
/** The peer's Initiate Tag (the stack must put it in its packets) and initial TSN. */
export const PEER_TAG = 0x11223344, PEER_TSN = 1000;
export const SECRET = new Uint8Array(32).map((_, i) => (i * 13 + 5) & 0xff);

/** A chunk as a test expects it: any subset of its fields, plus `$vtag` / `$dst` / `$src` / `$encap` of its packet. */
export type ChunkSpec = { type: string; $vtag?: number; $dst?: string; $src?: string; $encap?: SctpEncap | null } & Record<string, unknown>;

/** One chunk the stack sent, with its packet's addressing. */
export interface Sent { chunk: SctpChunk; vtag: number; src: string; dst: string; encap: SctpEncap | null; packet: number }

export interface PeerOptions {
  assoc?: Partial<SctpAssocConfig>;
  stack?: Partial<SctpStackConfig>;
  addresses?: string[];
}

const enc = (s: string) => new TextEncoder().encode(s);

export class Peer {
  st: SctpStackState;
  now = 0;
  id: AssocId | null = null;
  listener: string | null = null;
  /** Chunks sent by the stack not yet matched by recv(). */
  pending: Sent[] = [];
  events: SctpAppEvent[] = [];
  result: unknown = null;
  /** Our (the stack's) verification tag and initial TSN, once known. */
  tag = 0;
  tsn = 0;
  /** The tag the stack must use towards the peer. */
  peerTag = PEER_TAG;
  /** Next TSN the peer sends. */
  peerNext = PEER_TSN;
  packets = 0;
  /** Where the peer's packets come from (and go to). */
  src = REMOTE;
  dst = LOCAL;
  srcPort = RPORT;
  dstPort = LPORT;
  encap: SctpEncap | null = null;

  constructor(readonly opts: PeerOptions = {}) {
    const base = defaultSctpStackConfig(opts.addresses ?? [LOCAL]);
    const cfg: SctpStackConfig = { ...base, ...(opts.stack ?? {}), assoc: { ...base.assoc, ...(opts.assoc ?? {}) } };
    this.st = createSctpStack(cfg, SECRET, 0);
    this.check();
  }

  private check(): void {
    assert.equal(roundTrip(this.st), this.st as unknown, 'state must survive encode/decode unchanged');
  }

  /** The association (throws if none). */
  assoc(): Assoc {
    if (this.id === null) throw new Error('peer: no association');
    const a = this.st.assocs[this.id];
    if (a === undefined) throw new Error(`peer: association ${this.id} is gone`);
    return a;
  }

  step(ev: SctpEvent): this {
    const r = sctpStackStep(this.st, ev, this.now);
    this.take(r.out);
    this.events.push(...r.events);
    for (const e of r.events) {
      if (e.type === 'accept-ready' && this.id === null) this.id = e.id;
    }
    this.result = r.result;
    this.check();
    return this;
  }

  private take(out: SctpOut[]): void {
    for (const o of out) {
      const p = parseSctp(o.sctp, { verifyChecksum: true });
      if (!p.ok) throw new Error(`stack sent a bad SCTP packet: ${p.error}`);
      const n = ++this.packets;
      for (const c of p.value.chunks) {
        if (c.type === 'DATA') c.userData = c.userData.slice();
        if (c.type === 'INIT') { this.tag = c.initiateTag; this.tsn = c.initialTsn; }
        if (c.type === 'INIT-ACK') { this.tag = c.initiateTag; this.tsn = c.initialTsn; }
        this.pending.push({ chunk: c, vtag: p.value.verificationTag, src: o.src, dst: o.dst, encap: o.encap, packet: n });
      }
    }
  }

  at(ms: number): this {
    if (ms < this.now) throw new Error(`peer.at(${ms}) goes back in time from ${this.now}`);
    this.now = ms;
    return this;
  }

  tick(): this { return this.step({ type: 'tick' }); }

  listen(port = LPORT, backlog = 8): this {
    this.step({ type: 'listen', port, addresses: null, backlog });
    const r = this.result as { ok: boolean; listener?: string };
    assert.ok(r.ok, 'listen failed');
    this.listener = r.listener!;
    return this;
  }

  connect(remote: string[] = [REMOTE], port = RPORT, localPort = LPORT, udpEncap: number | null = null): this {
    this.step({ type: 'connect', local: null, localPort, remote, port, udpEncap });
    const r = this.result as { ok: boolean; id?: string };
    assert.ok(r.ok, `connect failed: ${JSON.stringify(r)}`);
    this.id = r.id!;
    return this;
  }

  /** Send one packet from the peer. `vtag` defaults to the stack's tag (0 for a packet starting with INIT). */
  send(chunks: SctpChunk[], o: { vtag?: number; src?: string; dst?: string; srcPort?: number; dstPort?: number; encap?: SctpEncap | null; corrupt?: boolean } = {}): this {
    const vtag = o.vtag ?? (chunks[0]?.type === 'INIT' ? 0 : this.tag);
    const pkt = { srcPort: o.srcPort ?? this.srcPort, dstPort: o.dstPort ?? this.dstPort, verificationTag: vtag, chunks };
    const b = new Uint8Array(sctpBufferLen(pkt));
    emitSctp(pkt, b);
    if (o.corrupt) b[b.length - 1]! ^= 1;
    for (const c of chunks) if (c.type === 'DATA' && ((c.tsn - this.peerNext) | 0) >= 0) this.peerNext = (c.tsn + 1) >>> 0;
    return this.step({ type: 'packet', src: o.src ?? this.src, dst: o.dst ?? this.dst, sctp: b, encap: o.encap !== undefined ? o.encap : this.encap });
  }

  /** Assert the stack sent exactly these chunks (in order) since the last recv. */
  recv(...specs: ChunkSpec[]): this {
    const got = this.pending;
    this.pending = [];
    const show = () => got.map((g) => `${g.chunk.type}${g.chunk.type === 'DATA' ? `(${g.chunk.tsn})` : ''}`).join(', ');
    assert.is(got.length, specs.length, `expected ${specs.length} chunks [${specs.map((s) => s.type).join(', ')}], got [${show()}]`);
    specs.forEach((s, i) => matchChunk(got[i]!, s, this.peerTag, i));
    return this;
  }

  /** Take what was sent (for custom assertions). */
  takeSent(): Sent[] {
    const g = this.pending;
    this.pending = [];
    return g;
  }

  /** Assert and clear application events (exact list, by subset of fields). */
  expectEvents(...specs: Record<string, unknown>[]): this {
    const got = this.events;
    this.events = [];
    assert.is(got.length, specs.length, `expected events ${JSON.stringify(specs)}, got ${JSON.stringify(got)}`);
    specs.forEach((s, i) => { for (const k of Object.keys(s)) assert.equal((got[i] as Record<string, unknown>)[k], s[k], `event ${i}.${k}`); });
    return this;
  }

  clearEvents(): this { this.events = []; return this; }

  /** DATA from the peer with the next TSN (or `tsn`). */
  data(payload: Uint8Array | string, o: { tsn?: number; stream?: number; ssn?: number; ppid?: number; unordered?: boolean; beginning?: boolean; ending?: boolean; immediate?: boolean } = {}): SctpChunk {
    const userData = typeof payload === 'string' ? enc(payload) : payload;
    return dataChunk({ tsn: o.tsn ?? this.peerNext, streamId: o.stream ?? 0, ssn: o.ssn ?? 0, ppid: o.ppid ?? 0, userData, ...o });
  }

  /** The peer's INIT. */
  init(o: { tag?: number; tsn?: number; os?: number; mis?: number; rwnd?: number; params?: SctpParam[] } = {}): SctpChunk {
    return initChunk({
      initiateTag: o.tag ?? PEER_TAG, aRwnd: o.rwnd ?? 65536, outboundStreams: o.os ?? 10, inboundStreams: o.mis ?? 10,
      initialTsn: o.tsn ?? PEER_TSN, params: o.params ?? [forwardTsnSupportedParam(), supportedExtensionsParam([0xc0])],
    });
  }

  /** Passive side: listen, INIT, INIT ACK, COOKIE ECHO, COOKIE ACK; leaves the association ESTABLISHED and accepted. */
  established(o: { init?: Parameters<Peer['init']>[0]; accept?: boolean } = {}): this {
    this.listen().send([this.init(o.init ?? {})]);
    const ack = this.takeSent().find((s) => s.chunk.type === 'INIT-ACK');
    assert.ok(ack !== undefined, 'no INIT ACK');
    const c = ack!.chunk;
    if (c.type !== 'INIT-ACK') throw new Error('unreachable');
    const ck = c.params.find((p) => p.type === 'state-cookie');
    if (ck === undefined || ck.type !== 'state-cookie') throw new Error('no cookie');
    this.send([cookieEchoChunk(ck.cookie)]).recv({ type: 'COOKIE-ACK' });
    if (o.accept ?? true) {
      this.step({ type: 'accept', listener: this.listener! });
      this.id = (this.result as { id: string }).id;
    }
    this.clearEvents();
    return this;
  }

  /** Active side: connect, INIT, INIT ACK (from the peer, with `cookie`), COOKIE ECHO, COOKIE ACK: ESTABLISHED. */
  connected(o: { params?: SctpParam[]; rwnd?: number; os?: number; mis?: number; remote?: string[] } = {}): this {
    this.connect(o.remote ?? [REMOTE]);
    this.recv({ type: 'INIT', $vtag: 0 });
    this.send([initAck({ params: o.params, rwnd: o.rwnd, os: o.os, mis: o.mis })]);
    this.recv({ type: 'COOKIE-ECHO', cookie: PEER_COOKIE });
    this.send([{ type: 'COOKIE-ACK', flags: 0 }]);
    this.clearEvents();
    return this;
  }

  /** Run with ticks until `ms`, firing every deadline on the way (collecting output). */
  runUntil(ms: number): this {
    for (;;) {
      let d: number | null = null;
      for (const id in this.st.assocs) {
        const x = this.st.assocs[id]!.deadline;
        if (x !== null && (d === null || x < d)) d = x;
      }
      if (d === null || d > ms) break;
      this.at(Math.max(this.now, d)).tick();
    }
    return this.at(ms);
  }
}

/** The cookie the scripted peer hands out in its INIT ACK. */
export const PEER_COOKIE = new Uint8Array([0xc0, 0x0c, 0x1e, 0x55, 1, 2, 3, 4]);

/** The peer's INIT ACK (answering the stack's INIT). */
export function initAck(o: { tag?: number; tsn?: number; rwnd?: number; os?: number; mis?: number; params?: SctpParam[] | undefined; cookie?: Uint8Array | null } = {}): SctpChunk {
  const params: SctpParam[] = [];
  if (o.cookie !== null) params.push({ type: 'state-cookie', cookie: o.cookie ?? PEER_COOKIE });
  params.push(...(o.params ?? [forwardTsnSupportedParam(), supportedExtensionsParam([0xc0])]));
  return {
    type: 'INIT-ACK', flags: 0, initiateTag: o.tag ?? PEER_TAG, aRwnd: o.rwnd ?? 65536, outboundStreams: o.os ?? 10,
    inboundStreams: o.mis ?? 10, initialTsn: o.tsn ?? PEER_TSN, params,
  };
}

function matchChunk(g: Sent, s: ChunkSpec, peerTag: number, i: number): void {
  const c = g.chunk as unknown as Record<string, unknown>;
  assert.is(c.type, s.type, `chunk ${i}: type`);
  const expVtag = s.$vtag ?? (s.type === 'INIT' ? 0 : peerTag);
  assert.is(g.vtag, expVtag >>> 0, `chunk ${i} (${s.type}): verification tag`);
  if (s.$dst !== undefined) assert.is(g.dst, s.$dst, `chunk ${i}: destination`);
  if (s.$src !== undefined) assert.is(g.src, s.$src, `chunk ${i}: source`);
  if (s.$encap !== undefined) assert.equal(g.encap, s.$encap, `chunk ${i}: encapsulation`);
  for (const k of Object.keys(s)) {
    if (k.startsWith('$') || k === 'type') continue;
    const want = s[k];
    const have = k === 'userData' && typeof want === 'string' ? new TextDecoder().decode(c[k] as Uint8Array) : c[k];
    assert.equal(have, want, `chunk ${i} (${s.type}).${k}`);
  }
}

export const peer = (o: PeerOptions = {}): Peer => new Peer(o);
export const text = (s: string): Uint8Array => enc(s);
