import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sim, type PacketEvent, type SimNode, type SimOut, type LinkSpec } from '../../tun/sim.ts';
import { Hub, Router } from '../../tun/sim-nodes.ts';
import { RouteTable } from '../../tun/sim-route.ts';
import { VirtualClock, realClock } from '../../tun/clock.ts';
import { ipToBytes } from '../../stack/wire/addr.ts';
import { toHex } from '../../stack/wire/bytes.ts';

// ---- toy nodes --------------------------------------------------------------------------

/** 32-bit FNV-1a: any change confined to one byte changes it, so it catches every single bit flip. */
function fnv(b: Uint8Array, end = b.length): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

/** Frame: [type u8][seq u32][payload...][fnv u32]. type 1 = data, 2 = ack. */
function frame(type: number, seq: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const f = new Uint8Array(5 + payload.length + 4);
  const v = new DataView(f.buffer);
  v.setUint8(0, type);
  v.setUint32(1, seq);
  f.set(payload, 5);
  v.setUint32(f.length - 4, fnv(f, f.length - 4));
  return f;
}

function unframe(f: Uint8Array): { type: number; seq: number; payload: Uint8Array } | null {
  if (f.length < 9) return null;
  const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
  if (v.getUint32(f.length - 4) !== fnv(f, f.length - 4)) return null;
  return { type: v.getUint8(0), seq: v.getUint32(1), payload: f.slice(5, f.length - 4) };
}

/** Stop-and-wait sender: one message in flight, retransmitted every `rto` ms until acked. Started by start(); output drained through poll(). */
class Sender implements SimNode {
  next = 0;
  deadline: number | null = null;
  doneAt: number | null = null;
  transmissions = 0;
  private pending: Uint8Array[] = [];
  constructor(readonly msgs: Uint8Array[], readonly rto = 40) {}
  start(now: number): void { this.pending.push(...this.current(now)); }
  private current(now: number): Uint8Array[] {
    this.deadline = now + this.rto;
    this.transmissions++;
    return [frame(1, this.next, this.msgs[this.next]!)];
  }
  receive(pkt: Uint8Array, now: number): SimOut[] {
    const f = unframe(pkt);
    if (f === null || f.type !== 2 || f.seq !== this.next) return [];
    this.next++;
    if (this.next === this.msgs.length) { this.deadline = null; this.doneAt = now; return []; }
    return this.current(now);
  }
  tick(now: number): SimOut[] {
    return this.deadline !== null && now >= this.deadline ? this.current(now) : [];
  }
  nextDeadline(): number | null { return this.deadline; }
  poll(): SimOut[] { const p = this.pending; this.pending = []; return p; }
}

/** Stop-and-wait receiver: delivers in order, acks every intact data frame it has (re)seen. */
class Receiver implements SimNode {
  got: Uint8Array[] = [];
  bad = 0;
  arrivals = 0;
  constructor(public expected = 0) {}
  receive(pkt: Uint8Array): SimOut[] {
    this.arrivals++;
    const f = unframe(pkt);
    if (f === null) { this.bad++; return []; }
    if (f.type !== 1 || f.seq > this.expected) return [];
    if (f.seq === this.expected) { this.got.push(f.payload); this.expected++; }
    return [frame(2, f.seq)];
  }
  tick(): SimOut[] { return []; }
  nextDeadline(): number | null { return null; }
}

/** Records what it receives, sends nothing. */
class Sink implements SimNode {
  log: { t: number; pkt: Uint8Array; iface: string }[] = [];
  receive(pkt: Uint8Array, now: number, iface: string): SimOut[] { this.log.push({ t: now, pkt, iface }); return []; }
  tick(): SimOut[] { return []; }
  nextDeadline(): number | null { return null; }
}

/** Sends packets made by `make(i)` every `gap` ms from t=0, `count` in all, via its deadline. */
class Blaster implements SimNode {
  i = 0;
  constructor(readonly count: number, readonly gap: number, readonly make: (i: number) => Uint8Array) {}
  receive(): SimOut[] { return []; }
  tick(now: number): SimOut[] {
    const out: Uint8Array[] = [];
    while (this.i < this.count && this.i * this.gap <= now) out.push(this.make(this.i++));
    return out;
  }
  nextDeadline(): number | null { return this.i < this.count ? this.i * this.gap : null; }
}

/** A minimal IPv4 packet (no checksum: the sim only reads the destination) carrying `payload`. */
function ip4(src: string, dst: string, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  p[0] = 0x45;
  new DataView(p.buffer).setUint16(2, p.length);
  p[8] = 64; p[9] = 253;
  p.set(ipToBytes(src)!, 12);
  p.set(ipToBytes(dst)!, 16);
  p.set(payload, 20);
  return p;
}

function ip6(dst: string): Uint8Array {
  const p = new Uint8Array(40);
  p[0] = 0x60;
  p.set(ipToBytes(dst)!, 24);
  return p;
}

const messages = (n: number, size = 100): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => Uint8Array.from({ length: size }, (_, j) => (i * 7 + j) & 0xff));

/** Stop-and-wait transfer of `n` messages over one impaired link; returns the pieces and a trace. */
function transfer(seed: number, n: number, spec: LinkSpec) {
  const sim = new Sim({ seed });
  const msgs = messages(n);
  const tx = new Sender(msgs), rx = new Receiver();
  sim.addNode('tx', tx).addNode('rx', rx).addLink('wire', 'tx:eth0', 'rx:eth0', spec);
  const trace: string[] = [];
  sim.onPacket((e) => trace.push(`${e.t.toFixed(6)} ${e.link} ${e.dir} ${e.fate} ${e.sentAt.toFixed(6)} ${toHex(e.pkt)}`));
  sim.at(0, (now) => tx.start(now));
  const r = sim.run({ maxEvents: 1_000_000 });
  return { sim, tx, rx, msgs, trace, r };
}

const LOSSY: LinkSpec = { delayMs: 5, jitterMs: 2, loss: 0.2, dup: 0.05, reorder: 0.05, reorderMs: 20, corrupt: 0.02 };

// ---- tests ------------------------------------------------------------------------------

test('sim: stop-and-wait over a lossy, duplicating, reordering, corrupting link completes in order', () => {
  const { sim, tx, rx, msgs, r } = transfer(1, 300, LOSSY);
  assert.is(r.reason, 'idle');
  assert.equal(rx.got, msgs);
  assert.ok(tx.doneAt !== null && tx.doneAt === sim.now, `done at ${tx.doneAt}, now ${sim.now}`);
  const c = sim.counters('wire');
  assert.ok(c.ab.lost > 0 && c.ba.lost > 0 && c.ab.duplicated + c.ba.duplicated > 0, 'impairments happened');
  assert.ok(c.ab.corrupted + c.ba.corrupted > 0 && rx.bad === c.ab.corrupted, `receiver caught every corrupted frame (${rx.bad})`);
  assert.ok(tx.transmissions > 300, 'some retransmissions were needed');
  for (const d of [c.ab, c.ba]) assert.is(d.sent + d.duplicated, d.delivered + d.dropped);
});

test('sim: the toy transfer also completes over many seeds', () => {
  for (let seed = 100; seed < 130; seed++) {
    const { rx, msgs, r } = transfer(seed, 40, LOSSY);
    assert.is(r.reason, 'idle', `seed ${seed}`);
    assert.equal(rx.got.length, msgs.length, `seed ${seed}`);
  }
});

test('sim: same seed gives an identical packet trace, another seed a different one', () => {
  const a = transfer(7, 100, LOSSY), b = transfer(7, 100, LOSSY), c = transfer(8, 100, LOSSY);
  assert.ok(a.trace.length > 200);
  assert.equal(a.trace, b.trace);
  assert.is(a.sim.now, b.sim.now);
  assert.is(a.sim.eventCount, b.sim.eventCount);
  assert.not.equal(a.trace, c.trace);
});

test('sim: adding a link does not change another link\'s random sequence', () => {
  const run = (extra: boolean) => {
    const sim = new Sim({ seed: 3 });
    const rx = new Sink();
    sim.addNode('tx', new Blaster(2000, 0.1, (i) => frame(1, i))).addNode('rx', rx);
    if (extra) sim.addNode('x', new Sink()).addNode('y', new Blaster(500, 0.3, (i) => frame(1, i))).addLink('aaa', 'y:e', 'x:e', { loss: 0.3 });
    sim.addLink('wire', 'tx:e', 'rx:e', { loss: 0.1, reorder: 0.1, jitterMs: 1, delayMs: 1 });
    sim.run();
    return rx.log.map((l) => `${l.t} ${toHex(l.pkt)}`);
  };
  const a = run(false), b = run(true);
  assert.ok(a.length > 1500);
  assert.equal(a, b);
});

test('sim: loss, dup, reorder and corrupt rates match the configuration over 100k packets', () => {
  const N = 100_000, SIZE = 64;
  const make = (i: number): Uint8Array => {
    const p = new Uint8Array(SIZE);
    const v = new DataView(p.buffer);
    v.setUint32(0, i); v.setUint32(4, i);
    for (let j = 8; j < SIZE; j++) p[j] = Math.imul(i ^ (j << 20), 0x9e3779b1) >>> 24; // every seq bit reaches the payload
    return p;
  };
  const hamming = (a: Uint8Array, b: Uint8Array): number => {
    let d = 0;
    for (let j = 0; j < a.length; j++) { let x = a[j]! ^ b[j]!; while (x) { d += x & 1; x >>= 1; } }
    return d;
  };
  const sim = new Sim({ seed: 2024 });
  const rx = new Sink();
  const cfg = { delayMs: 10, loss: 0.05, dup: 0.01, reorder: 0.05, reorderMs: 1, corrupt: 0.01 };
  sim.addNode('tx', new Blaster(N, 0.01, make)).addNode('rx', rx).addLink('wire', 'tx:e', 'rx:e', cfg);
  const r = sim.run();
  assert.is(r.reason, 'idle');
  const c = sim.counters('wire').ab;
  assert.is(c.sent, N);
  assert.is(c.delivered, rx.log.length);
  assert.is(c.sent + c.duplicated, c.delivered + c.dropped);
  const survivors = N - c.lost;
  // Each binomial rate is checked to within 4.5 standard deviations.
  const near = (k: number, n: number, p: number, what: string) => {
    const sd = Math.sqrt(p * (1 - p) / n);
    assert.ok(Math.abs(k / n - p) < 4.5 * sd, `${what}: ${k}/${n} = ${k / n}, want ${p} ± ${4.5 * sd}`);
  };
  near(c.lost, N, cfg.loss, 'loss');
  near(c.duplicated, survivors, cfg.dup, 'dup');
  near(c.reordered, survivors, cfg.reorder, 'reorder');
  near(c.corrupted, survivors, cfg.corrupt, 'corrupt');
  // What the receiver sees agrees with the counters.
  const seen = new Set<number>();
  let corrupt = 0, dups = 0, late = 0, maxSeq = -1;
  for (const { pkt } of rx.log) {
    const v = new DataView(pkt.buffer, pkt.byteOffset);
    const s0 = v.getUint32(0), s1 = v.getUint32(4);
    const d0 = hamming(pkt, make(s0 % N)), d1 = hamming(pkt, make(s1 % N));
    const seq = d0 <= d1 ? s0 : s1;
    if (Math.min(d0, d1) !== 0) { corrupt++; assert.is(Math.min(d0, d1), 1, 'exactly one bit flipped'); }
    if (seen.has(seq)) dups++; else seen.add(seq);
    if (seq < maxSeq) late++;
    if (seq > maxSeq) maxSeq = seq;
  }
  assert.is(corrupt, c.corrupted);
  assert.is(seen.size, survivors);
  assert.is(dups, c.duplicated);
  // A held-back packet (up to 1 ms) is overtaken by the ones sent 0.01 ms after it, so almost
  // every reordered packet shows up late; nothing else does (no jitter here).
  assert.ok(late >= c.reordered * 0.9 && late <= c.reordered + c.duplicated, `late ${late}, reordered ${c.reordered}`);
  // Delay is respected: nothing arrives before sentAt + 10 ms.
  assert.ok(rx.log.every((l) => l.t >= 10));
});

test('sim: jitter delays but never reorders by itself', () => {
  const sim = new Sim({ seed: 5 });
  const rx = new Sink();
  sim.addNode('tx', new Blaster(5000, 0.05, (i) => frame(1, i))).addNode('rx', rx).addLink('w', 'tx:e', 'rx:e', { delayMs: 3, jitterMs: 4 });
  sim.run();
  const seqs = rx.log.map((l) => unframe(l.pkt)!.seq);
  assert.equal(seqs, Array.from({ length: 5000 }, (_, i) => i));
  const extra = rx.log.map((l, i) => l.t - i * 0.05 - 3);
  assert.ok(extra.every((x) => x >= -1e-9), 'never early');
  assert.ok(Math.max(...extra) > 2, 'jitter applied');
});

test('sim: bandwidth gives the serialisation delay and a tail-drop queue', () => {
  const sim = new Sim();
  const rx = new Sink();
  sim.addNode('tx', new Sink()).addNode('rx', rx);
  sim.addLink('w', 'tx:e', 'rx:e', { bitsPerSec: 1_000_000, delayMs: 5, queueBytes: 1_000_000 });
  const pkts = Array.from({ length: 100 }, (_, i) => { const p = new Uint8Array(1250); p[0] = i; return p; });
  sim.at(0, () => sim.inject('tx', pkts));
  sim.run();
  // 1250 B at 1 Mbit/s = 10 ms each, back to back, then 5 ms of propagation.
  assert.equal(rx.log.map((l) => l.t), Array.from({ length: 100 }, (_, i) => 10 * (i + 1) + 5));
  assert.equal(rx.log.map((l) => l.pkt[0]), Array.from({ length: 100 }, (_, i) => i));

  // With a 5000-byte queue: 4 packets fit at once (the first is being serialised), the rest drop.
  const sim2 = new Sim();
  const rx2 = new Sink();
  const fates: string[] = [];
  sim2.addNode('tx', new Sink()).addNode('rx', rx2);
  sim2.addLink('w', 'tx:e', 'rx:e', { bitsPerSec: 1_000_000, queueBytes: 5000 });
  sim2.onPacket((e) => fates.push(e.fate));
  sim2.at(0, () => sim2.inject('tx', Array.from({ length: 10 }, () => new Uint8Array(1250))));
  sim2.at(25, () => sim2.inject('tx', [new Uint8Array(1250), new Uint8Array(1250)])); // 1.5 packets queued at t=25: both fit
  sim2.run();
  const c = sim2.counters('w').ab;
  assert.is(c.queueDrops, 6);
  assert.is(c.delivered, 6);
  assert.is(fates.filter((f) => f === 'queue-drop').length, 6);
  assert.equal(rx2.log.map((l) => l.t), [10, 20, 30, 40, 50, 60]);
});

test('sim: packets above the MTU are dropped and counted', () => {
  const sim = new Sim();
  const rx = new Sink();
  const ev: PacketEvent[] = [];
  sim.addNode('tx', new Sink()).addNode('rx', rx).addLink('w', 'tx:e', 'rx:e', { mtu: 1000 });
  sim.onPacket((e) => ev.push(e));
  sim.inject('tx', [new Uint8Array(1001), new Uint8Array(1000), new Uint8Array(65535)]);
  sim.run();
  assert.equal(rx.log.map((l) => l.pkt.length), [1000]);
  const c = sim.counters('w').ab;
  assert.is(c.mtuDrops, 2);
  assert.is(c.dropped, 2);
  assert.equal(ev.map((e) => [e.fate, e.pkt.length, e.from, e.to, e.dir]), [
    ['mtu-drop', 1001, 'tx', 'rx', 'ab'], ['mtu-drop', 65535, 'tx', 'rx', 'ab'], ['delivered', 1000, 'tx', 'rx', 'ab'],
  ]);
  // Default MTU is 1500.
  const sim2 = new Sim();
  sim2.addNode('a', new Sink()).addNode('b', new Sink()).addLink('w', 'a:e', 'b:e');
  sim2.inject('a', [new Uint8Array(1501)]);
  assert.is(sim2.counters('w').ab.mtuDrops, 1);
});

test('sim: a link that goes down drops packets in flight and packets sent while down', () => {
  const sim = new Sim();
  const rx = new Sink();
  const ev: PacketEvent[] = [];
  sim.addNode('tx', new Sink()).addNode('rx', rx).addLink('w', 'tx:e', 'rx:e', { delayMs: 10 });
  sim.onPacket((e) => ev.push(e));
  const send = (tag: number) => sim.inject('tx', [Uint8Array.of(tag)]);
  sim.at(0, () => send(1));                          // in flight when the link goes down at 5
  sim.at(5, () => { sim.setLinkUp('w', false); send(2); });
  sim.at(6, () => sim.setLinkUp('w', true));         // back up before packet 1 would arrive: still gone
  sim.at(7, () => send(3));
  sim.run();
  assert.equal(rx.log.map((l) => [l.t, l.pkt[0]]), [[17, 3]]);
  assert.equal(ev.map((e) => [e.t, e.fate, e.pkt[0], e.sentAt]), [[5, 'down-drop', 2, 5], [10, 'down-drop', 1, 0], [17, 'delivered', 3, 7]]);
  const c = sim.counters('w').ab;
  assert.is(c.downDrops, 2);
  assert.is(c.sent, 3);
  assert.ok(sim.isLinkUp('w'));
});

test('sim: events at the same time run FIFO; arrivals before ticks at equal times', () => {
  const sim = new Sim();
  const order: string[] = [];
  class Timer implements SimNode {
    constructor(readonly name: string, public at: number | null) {}
    receive(pkt: Uint8Array): SimOut[] { order.push(`${this.name} rx ${pkt[0]}`); return []; }
    tick(now: number): SimOut[] { order.push(`${this.name} tick ${now}`); this.at = null; return []; }
    nextDeadline(): number | null { return this.at; }
  }
  sim.addNode('a', new Timer('a', 5)).addNode('b', new Timer('b', 5)).addNode('src', new Sink());
  sim.addLink('l', 'src:e', 'a:e', { delayMs: 5 });
  sim.at(5, () => order.push('cb1'));
  sim.inject('src', [Uint8Array.of(1), Uint8Array.of(2)]); // arrive at 5, after cb1 (later seq)
  sim.at(5, () => order.push('cb2'));
  sim.at(3, () => { order.push('cb0'); sim.at(5, () => order.push('cb3')); sim.at(3, () => order.push('cb0b')); });
  sim.run();
  assert.equal(order, ['cb0', 'cb0b', 'cb1', 'a rx 1', 'a rx 2', 'cb2', 'cb3', 'a tick 5', 'b tick 5']);
  assert.throws(() => sim.at(4, () => {}), /before now/);
});

test('sim: poll() output is drained after each callback; inject() sends as the node', () => {
  const sim = new Sim();
  const msgs = messages(3);
  const tx = new Sender(msgs, 1000), rx = new Receiver();
  sim.addNode('tx', tx).addNode('rx', rx).addLink('w', 'tx:e', 'rx:e', { delayMs: 1 });
  sim.at(50, (now) => tx.start(now));
  const r = sim.run();
  assert.is(r.reason, 'idle');
  assert.equal(rx.got, msgs);
  assert.is(tx.doneAt, 50 + 6);
  assert.is(tx.transmissions, 3);
});

test('sim: nextDeadline-driven retransmission recovers from a dead link', () => {
  const sim = new Sim();
  const msgs = messages(5);
  const tx = new Sender(msgs, 40), rx = new Receiver();
  sim.addNode('tx', tx).addNode('rx', rx).addLink('w', 'tx:e', 'rx:e', { delayMs: 1 });
  sim.setLinkUp('w', false);
  tx.start(0);                                 // before run: drained by run()'s initial poll
  sim.at(130, () => sim.setLinkUp('w', true)); // transmissions at 0, 40, 80, 120 are lost; 160 gets through
  sim.run();
  assert.equal(rx.got, msgs);
  assert.is(tx.doneAt, 160 + 2 + 4 * 2);
  assert.is(sim.counters('w').ab.downDrops, 4);
});

test('sim: replaceNode mid-run hands over in-flight packets and the name', () => {
  const sim = new Sim({ seed: 42 });
  const msgs = messages(200);
  const tx = new Sender(msgs), rx1 = new Receiver();
  sim.addNode('tx', tx).addNode('rx', rx1).addLink('w', 'tx:e', 'rx:e', LOSSY);
  sim.at(0, (now) => tx.start(now));
  let rx2: Receiver | null = null;
  sim.at(500, () => {
    // "Migrate": a new receiver resumes from a copy of the old one's state.
    rx2 = new Receiver(rx1.expected);
    rx2.got = [...rx1.got];
    const old = sim.replaceNode('rx', rx2);
    assert.is(old, rx1);
    assert.is(sim.node('rx'), rx2);
  });
  const frozen = { arrivals: -1 };
  sim.at(500, () => { frozen.arrivals = rx1.arrivals; });
  sim.run();
  assert.ok(rx2 !== null);
  const r2 = rx2 as Receiver;
  assert.ok(rx1.got.length > 0 && rx1.got.length < 200, `old node got ${rx1.got.length}`);
  assert.is(rx1.arrivals, frozen.arrivals, 'old node received nothing after the swap');
  assert.ok(r2.arrivals > 0);
  assert.equal(r2.got, msgs);
  assert.is(tx.doneAt, sim.now);
});

test('sim: replaceNode reads the new node\'s deadline and forgets the old one', () => {
  const ticks: string[] = [];
  const timer = (name: string, at: number): SimNode => {
    let due: number | null = at;
    return {
      receive: () => [], nextDeadline: () => due,
      tick: (now) => { ticks.push(`${name}@${now}`); due = null; return []; },
    };
  };
  const sim = new Sim();
  sim.addNode('n', timer('old', 100));
  sim.at(10, () => sim.replaceNode('n', timer('new', 50)));
  sim.run();
  assert.equal(ticks, ['new@50']);
});

test('sim: run() stops at until, maxEvents or stopWhen and resumes where it left off', () => {
  const sim = new Sim();
  const rx = new Sink();
  sim.addNode('tx', new Blaster(100, 1, (i) => Uint8Array.of(i))).addNode('rx', rx).addLink('w', 'tx:e', 'rx:e', { delayMs: 0.5 });
  let r = sim.run({ until: 9.9 });
  assert.equal([r.reason, r.now, rx.log.length], ['until', 9.9, 10]);
  r = sim.run({ maxEvents: 4 }); // tick at 10, arrival at 10.5, tick at 11, arrival at 11.5
  assert.equal([r.reason, r.now, r.events, rx.log.length], ['max-events', 11.5, 4, 12]);
  r = sim.run({ stopWhen: () => rx.log.length >= 50 });
  assert.equal([r.reason, r.now, rx.log.length], ['stop-when', 49.5, 50]);
  r = sim.run();
  assert.equal([r.reason, r.now, rx.log.length], ['idle', 99.5, 100]);
  r = sim.run({ until: 1000 });
  assert.equal([r.reason, r.now, r.events], ['idle', 1000, 0]);
  assert.is(sim.clock.now(), 1000);
  assert.throws(() => sim.run({ until: 5 }), /before now/);
});

test('sim: a node that never stops asking for a tick is reported, not spun on forever', () => {
  const sim = new Sim();
  sim.addNode('bad', { receive: () => [], tick: () => [], nextDeadline: () => 0 });
  assert.throws(() => sim.run(), /livelocked/);
});

test('sim: a router forwards by longest prefix, and rerouting moves a service address', () => {
  const sim = new Sim();
  const a = new Sink(), b = new Sink(), client = new Sink();
  const router = new Router([['10.0.0.0/8', 'pa'], ['10.9.0.0/16', 'pb'], ['192.168.1.1', 'pc'], ['2001:db8::/32', 'pb']]);
  sim.addNode('client', client).addNode('a', a).addNode('b', b).addNode('r', router);
  sim.addLink('lc', 'client:e', 'r:pc', { delayMs: 1 }).addLink('la', 'a:e', 'r:pa', { delayMs: 1 }).addLink('lb', 'b:e', 'r:pb', { delayMs: 1 });
  const svc = (tag: number) => ip4('192.168.1.1', '10.9.0.10', Uint8Array.of(tag));
  sim.at(0, () => sim.inject('client', [svc(1), ip4('192.168.1.1', '10.1.2.3', Uint8Array.of(2)), ip4('192.168.1.1', '172.16.0.1', Uint8Array.of(3)), ip6('2001:db8::1')]));
  sim.at(10, () => { router.routes.set('10.9.0.10/32', 'pa'); sim.inject('client', [svc(4)]); });
  sim.at(20, () => { router.routes.delete('10.9.0.10/32'); sim.inject('client', [svc(5)]); sim.inject('a', [ip4('10.1.2.3', '192.168.1.1', Uint8Array.of(6))]); });
  sim.run();
  assert.equal(a.log.map((l) => [l.t, l.pkt[20]]), [[2, 2], [12, 4]]);
  assert.equal(b.log.map((l) => [l.t, l.pkt[0] === 0x60 ? 'v6' : l.pkt[20]]), [[2, 1], [2, 'v6'], [22, 5]]);
  assert.equal(client.log.map((l) => [l.t, l.pkt[20]]), [[22, 6]]);
  assert.is(router.noRoute, 1);
  assert.is(router.forwarded, 6);
});

test('sim: a hub shares one segment among several nodes', () => {
  const sim = new Sim();
  const n = [new Sink(), new Sink(), new Sink()];
  sim.addNode('hub', new Hub(['p0', 'p1', 'p2']));
  n.forEach((s, i) => sim.addNode(`n${i}`, s).addLink(`l${i}`, `n${i}:e`, `hub:p${i}`, { delayMs: 1 }));
  sim.inject('n1', [Uint8Array.of(9, 9)]);
  sim.run();
  assert.equal(n.map((s) => s.log.map((l) => [l.t, [...l.pkt]])), [[[2, [9, 9]]], [], [[2, [9, 9]]]]);
  assert.ok(n[0]!.log[0]!.pkt !== n[2]!.log[0]!.pkt, 'each receiver owns its own copy');
});

test('sim: a multihomed node picks its interface by route; explicit { iface, pkt } overrides', () => {
  const sim = new Sim();
  const p1 = new Sink(), p2 = new Sink();
  sim.addNode('h', new Sink()).addNode('p1', p1).addNode('p2', p2);
  sim.addLink('l1', 'h:eth0', 'p1:e').addLink('l2', 'h:eth1', 'p2:e');
  assert.throws(() => sim.inject('h', [ip4('1.1.1.1', '10.0.1.5', Uint8Array.of(0))]), /no route/);
  sim.addRoute('h', '10.0.1.0/24', 'eth0');
  sim.addRoute('h', '10.0.2.0/24', 'eth1');
  sim.addRoute('h', '10.0.1.5', 'eth1');
  sim.inject('h', [ip4('1.1.1.1', '10.0.1.4', Uint8Array.of(1)), ip4('1.1.1.1', '10.0.2.4', Uint8Array.of(2)), ip4('1.1.1.1', '10.0.1.5', Uint8Array.of(3)),
    { iface: 'eth0', pkt: ip4('1.1.1.1', '10.0.2.4', Uint8Array.of(4)) }]);
  assert.ok(sim.deleteRoute('h', '10.0.1.5'));
  sim.inject('h', [ip4('1.1.1.1', '10.0.1.5', Uint8Array.of(5))]);
  sim.run();
  assert.equal(p1.log.map((l) => l.pkt[20]), [1, 4, 5]);
  assert.equal(p2.log.map((l) => l.pkt[20]), [2, 3]);
  assert.throws(() => sim.inject('h', [{ iface: 'eth9', pkt: new Uint8Array(1) }]), /no interface/);
});

test('sim: per-direction configuration, runtime changes and bad configurations', () => {
  const sim = new Sim();
  const a = new Sink(), b = new Sink();
  sim.addNode('a', a).addNode('b', b).addLink('w', 'a:e', 'b:e', { ab: { delayMs: 1 }, ba: { delayMs: 7 } });
  sim.inject('a', [Uint8Array.of(1)]);
  sim.inject('b', [Uint8Array.of(2)]);
  sim.run();
  sim.setLinkConfig('w', { delayMs: 3 }, 'ab');
  sim.inject('a', [Uint8Array.of(3)]);
  sim.run();
  assert.equal(b.log.map((l) => l.t), [1, 10]);
  assert.equal(a.log.map((l) => l.t), [7]);
  assert.is(sim.linkConfig('w', 'ba').delayMs, 7);
  assert.equal(sim.linkEnds('w'), { a: { node: 'a', iface: 'e' }, b: { node: 'b', iface: 'e' } });
  assert.throws(() => sim.setLinkConfig('w', { loss: 1.5 }), /loss/);
  assert.throws(() => sim.addLink('w2', 'a:e', 'b:f'), /already attached/);
  assert.throws(() => sim.addLink('w3', 'a:f', 'nobody:e'), /no node/);
  assert.throws(() => sim.addLink('w4', 'a', 'b:g'), /node:iface/);
  assert.throws(() => sim.addNode('a', new Sink()), /already exists/);
});

test('sim: onPacket unsubscribes; the sim exposes its virtual clock', () => {
  const sim = new Sim({ start: 1000 });
  sim.addNode('a', new Sink()).addNode('b', new Sink()).addLink('w', 'a:e', 'b:e', { delayMs: 2 });
  const seen: number[] = [];
  const off = sim.onPacket((e) => seen.push(e.t));
  sim.inject('a', [new Uint8Array(1)]);
  sim.run();
  off();
  sim.inject('a', [new Uint8Array(1)]);
  sim.run();
  assert.equal(seen, [1002]);
  assert.is(sim.clock.now(), 1004);
});

test('clock: VirtualClock only moves forward; realClock is monotonic', () => {
  const c = new VirtualClock(10);
  assert.is(c.now(), 10);
  assert.is(c.advance(5), 15);
  assert.is(c.set(20), 20);
  assert.throws(() => c.set(19), /before/);
  assert.throws(() => c.advance(-1), /bad step/);
  const t0 = realClock.now(), t1 = realClock.now();
  assert.ok(t1 >= t0 && t0 > 0);
});

test('route table: longest prefix, replace, delete, non-IP input', () => {
  const t = new RouteTable();
  t.set('0.0.0.0/0', 'def');
  t.set('10.0.0.0/8', 'a');
  t.set('10.128.0.0/9', 'b');
  const p = (d: string) => ip4('1.2.3.4', d, new Uint8Array(0));
  assert.is(t.lookup(p('10.127.0.1')), 'a');
  assert.is(t.lookup(p('10.128.0.1')), 'b');
  assert.is(t.lookup(p('11.0.0.1')), 'def');
  t.set('10.0.0.0/8', 'c');
  assert.is(t.lookup(p('10.1.0.1')), 'c');
  assert.is(t.entries().length, 3);
  assert.ok(t.delete('0.0.0.0/0'));
  assert.is(t.lookup(p('11.0.0.1')), null);
  assert.is(t.lookup(ip6('::1')), null);
  assert.is(t.lookup(new Uint8Array([0x45])), null);
  assert.throws(() => t.set('10.0.0.0/33', 'x'), /prefix/);
  assert.throws(() => t.set('10.0.0/8', 'x'), /address/);
});

test.run();
