// Continuous replication (migrate/replicate.ts) with in-process hosts: a client Host talks to
// server s1 over a memlink; s1's output passes the Replicator, whose batches reach a
// ReplicaStore (the standby) and whose acks come back a turn later. Then s1 "crashes" (its
// link goes dead, its held packets with it), the route moves to s2, s2 resumes every replica,
// and the client's stream must continue exactly (sync), or be either exact or reset (async).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Host, type Link } from '../../tun/driver.ts';
import { MemLinkEnd, memLinkPair } from '../../tun/memlink.ts';
import type { Socket } from '../../tun/net.ts';
import {
  decodeBatch, decodeReplicaAck, encodeBatch, encodeReplicaAck, peekTcp, ReplicaStore, Replicator, resumeReplica, Verifier,
  type ReplicaMode,
} from '../../migrate/replicate.ts';
import { counterService } from '../../migrate/services/counter.ts';
import { echoService } from '../../migrate/services/echo.ts';
import type { FerryService, ServiceConfig, TcpAppConn } from '../../migrate/node-types.ts';

const C = '10.9.2.1', S = '10.9.2.2', PORT = 7000;
const secret = (b: number): Uint8Array => new Uint8Array(32).fill(b);

/** A link with an optional output gate and input inspector, that can "die". */
class TestLink implements Link {
  gate: Replicator | null = null;
  inspect: ((p: Uint8Array) => boolean) | null = null;
  dead = false;
  sentOut = 0;
  constructor(readonly inner: MemLinkEnd) {}
  send(pkts: Uint8Array[]): void {
    if (this.dead) return;
    const out = this.gate !== null ? this.gate.filter(pkts) : pkts;
    this.sentOut += out.length;
    if (out.length > 0) this.inner.send(out);
  }
  raw(pkts: Uint8Array[]): void { if (!this.dead) { this.sentOut += pkts.length; this.inner.send(pkts); } }
  onReceive(cb: (pkts: Uint8Array[]) => void): void {
    this.inner.onReceive((pkts) => {
      if (this.dead) return;
      const i = this.inspect;
      cb(i === null ? pkts : pkts.filter((p) => !i(p)));
    });
  }
  close(): void { this.inner.close(); }
}

const cfgOf = (type: 'counter' | 'echo'): ServiceConfig => ({ name: type, type, proto: 'tcp', port: PORT, root: null, module: null, options: {}, replication: null });
const ctx = { node: 't', log: () => {} };
const make = (type: 'counter' | 'echo'): FerryService => (type === 'counter' ? counterService(cfgOf(type), ctx) : echoService(cfgOf(type), ctx));

interface Rig {
  client: Host; s1: Host; s2: Host; rep: Replicator; store: ReplicaStore; l1: TestLink; l2: TestLink;
  /** The standby stops receiving batches (the hand-over link silently dies). */
  cutReplication(): void;
  /** The hand-over link is gone (send fails): the active stops holding. */
  linkDown(): void;
  /** s1 dies; s2 resumes every replica and takes the route. Returns how many resumed. */
  crash(slackMs: number): number;
  verifier: Verifier;
  /** Frames of stream bytes sent ahead of their replica (seq 0). */
  ahead(): number;
  close(): void;
}

function rig(mode: ReplicaMode, type: 'counter' | 'echo', maxLagMs = 50): Rig {
  const [cEnd, s1End] = memLinkPair();
  const s2End = new MemLinkEnd(1, {});
  const l1 = new TestLink(s1End), l2 = new TestLink(s2End);
  const client = new Host({ addresses: [C], link: cEnd, secret: secret(1) });
  const s1 = new Host({ addresses: [S], link: l1, secret: secret(2) });
  const s2 = new Host({ addresses: [S], link: l2, secret: secret(2) });
  const store = new ReplicaStore();
  let cut = false, down = false, aheadFrames = 0;
  const rep = new Replicator({
    host: s1, maxLagMs,
    send: (payload) => {
      if (down) return false;
      if (cut) return true;
      const b = decodeBatch(payload);
      assert.ok(b !== null, 'a batch decodes');
      if (b.seq === 0) aheadFrames++;
      setImmediate(() => {
        if (cut) return;
        const bad = store.apply(b, s2.now());
        assert.equal(bad, [], `every replica applies: ${store.lastError}`);
        setImmediate(() => { if (!cut) rep.onAck(encodeReplicaAck(b.seq, bad)); });
      });
      return true;
    },
    release: (pkts) => l1.raw(pkts),
  });
  l1.gate = rep;
  rep.enable();
  const svc1 = make(type), svc2 = make(type);
  const conn = (socket: Socket, resumed: boolean, state: Uint8Array | null): TcpAppConn =>
    ({ proto: 'tcp', id: socket.id!, socket, remote: C, remotePort: socket.remotePort ?? 0, resumed, state });
  s1.createServer({ allowHalfOpen: true }, (sock) => {
    const c = conn(sock, false, null);
    const cp = svc1.onCheckpoint;
    rep.track(sock.id!, mode, sock, cp === undefined ? null : () => cp.call(svc1, c));
    sock.once('close', () => rep.appClosed(c.id));
    svc1.onConnection(c);
  }).listen(PORT, S);
  s2.createServer({ allowHalfOpen: true }, (sock) => svc2.onConnection(conn(sock, false, null))).listen(PORT, S);
  const verifier = new Verifier(s2, (p) => l2.raw(p), (id) => { s2.call({ type: 'abort', id }); });
  l2.inspect = (p) => verifier.inspect(p);
  return {
    client, s1, s2, rep, store, l1, l2, verifier, ahead: () => aheadFrames,
    cutReplication: () => { cut = true; },
    linkDown: () => { down = true; },
    crash(slackMs) {
      cut = true;
      l1.dead = true;
      s1.close();
      cEnd.peer = s2End;
      s2End.peer = cEnd;
      let n = 0;
      const probes: Uint8Array[] = [];
      for (const id of [...store.replicas.keys()]) {
        const m = store.materialize(id);
        const r = resumeReplica(s2, m, m.receivedAt, slackMs);
        if (r.socket !== null) svc2.onConnection(conn(r.socket, true, r.app));
        probes.push(r.probe);
        verifier.add(r.id);
        n++;
      }
      s2.flush();
      l2.raw(probes);
      return n;
    },
    close() { client.close(); s1.close(); s2.close(); },
  };
}

const timeout = <T>(p: Promise<T>, ms: number, what: () => string): Promise<T> =>
  Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`timed out: ${what()}`)), ms).unref())]);

test('wire: a batch and an ack round-trip; truncated input is refused', () => {
  const b = {
    seq: 7, entries: [
      { kind: 'drop' as const, id: 'a|1|b|2' },
      { kind: 'sctp' as const, id: 'assoc-1', version: 2, mode: 'async' as const, snap: new Uint8Array([4, 4]), queued: new Uint8Array([]), app: new Uint8Array([1]) },
      {
        kind: 'replica' as const, id: '10.0.0.1|80|10.0.0.2|5555', version: 3, full: true, ended: false, appClosed: false, mode: 'sync' as const,
        tcb: new Uint8Array([1, 2, 3]), takenAt: 12.5, bytesWritten: 2 ** 40 + 2, sndQLen: 2, bytesRead: 5, rcvQLen: 0,
        ooo: [{ seq: 4294967295, data: new Uint8Array([5]) }], outFrom: 2 ** 40, out: new Uint8Array([9, 9]), inFrom: 5, in: new Uint8Array([]), unreadLen: 0, unsentLen: 2, app: new Uint8Array([7]),
      },
    ],
  };
  const enc = encodeBatch(b);
  const d = decodeBatch(enc);
  assert.ok(d !== null);
  assert.is(d.seq, 7);
  assert.is(d.entries.length, 3);
  const sc = d.entries[1]!;
  assert.ok(sc.kind === 'sctp' && sc.id === 'assoc-1' && sc.version === 2 && sc.mode === 'async');
  assert.equal(new Uint8Array(sc.snap), new Uint8Array([4, 4]));
  const e = d.entries[2]!;
  assert.ok(e.kind === 'replica');
  assert.is(e.outFrom, 2 ** 40);
  assert.equal(new Uint8Array(e.out), new Uint8Array([9, 9]));
  assert.equal(new Uint8Array(e.app), new Uint8Array([7]));
  assert.is(e.takenAt, 12.5);
  assert.is(e.ooo[0]!.seq, 4294967295);
  assert.equal(new Uint8Array(e.ooo[0]!.data), new Uint8Array([5]));
  for (let n = 5; n < enc.length; n++) assert.is(decodeBatch(enc.subarray(0, n)), null, `truncated at ${n}`);
  assert.equal(decodeReplicaAck(encodeReplicaAck(9, ['x|1|y|2'])), { seq: 9, bad: ['x|1|y|2'] });
  assert.is(decodeReplicaAck(new Uint8Array([0x41, 0, 0])), null);
});

test('sync: no packet of a replicated connection leaves before the standby confirms the replica that produced it', async () => {
  const r = rig('sync', 'counter');
  // Watch every ack from the standby, and every packet that leaves s1.
  let confirmed = 0, lastBatch = 0;
  const onAck = r.rep.onAck.bind(r.rep);
  r.rep.onAck = (p) => { confirmed = decodeReplicaAck(p)!.seq; onAck(p); };
  const origSend = r.l1.inner.send.bind(r.l1.inner);
  let early = 0, after = 0;
  r.l1.inner.send = (pkts) => {
    for (const p of pkts) {
      const k = peekTcp(p, true);
      if (k !== null && r.rep.has(k.id)) { if (confirmed < 1) early++; else after++; }
    }
    origSend(pkts);
  };
  try {
    const sock = r.client.connect({ host: S, port: PORT });
    await new Promise((res) => sock.once('connect', res));
    let got = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => { got += d; });
    for (let i = 1; i <= 200; i++) sock.write(`line ${i}\n`);
    await timeout(new Promise<void>((res) => { const t = setInterval(() => { if (got.split('\n').length > 200) { clearInterval(t); res(); } }, 5); }), 10_000, () => got.slice(-100));
    const lines = got.trimEnd().split('\n');
    assert.equal(lines, Array.from({ length: 200 }, (_, i) => `${i + 1} line ${i + 1}`));
    lastBatch = r.rep.stats.batchesSent;
    assert.is(early, 0, 'nothing left before the first confirmation');
    assert.ok(after > 0, 'answers left after confirmations');
    assert.ok(r.rep.stats.heldTotal >= after, `every packet was held first (${r.rep.stats.heldTotal} held, ${after} sent)`);
    assert.ok(lastBatch > 0 && r.store.replicas.size === 1, 'the standby holds one replica');
    sock.destroy();
  } finally { r.close(); }
});

test('sync: the active dies mid-stream (counter); the standby resumes and the count goes on exactly', async () => {
  const r = rig('sync', 'counter');
  try {
    const N = 3000;
    const sock = r.client.connect({ host: S, port: PORT });
    await new Promise((res) => sock.once('connect', res));
    let got = '', crashed = 0;
    sock.setEncoding('latin1');
    const errors: string[] = [];
    sock.on('error', (e) => errors.push(e.message));
    let i = 0;
    const done = new Promise<void>((res) => {
      sock.on('data', (d: string) => {
        got += d;
        const n = got.split('\n').length - 1;
        if (crashed === 0 && n >= N * 0.4) crashed = r.crash(0);
        if (n >= N) res();
      });
    });
    const pump = setInterval(() => { for (let k = 0; k < 50 && i < N; k++) { i++; sock.write(`q${i}\n`); } if (i >= N) clearInterval(pump); }, 1);
    await timeout(done, 20_000, () => `${got.split('\n').length - 1} lines, errors ${errors.join(',')}`);
    assert.is(crashed, 1, 'one connection resumed from its replica');
    const lines = got.trimEnd().split('\n');
    assert.equal(lines.length, N);
    for (let k = 0; k < N; k++) if (lines[k] !== `${k + 1} q${k + 1}`) assert.unreachable(`line ${k}: ${lines[k]}`);
    assert.equal(errors, []);
    assert.is(r.verifier.diverged, 0, 'sync never diverges');
    sock.destroy();
  } finally { r.close(); }
});

const echoByte = (i: number): number => (i * 7 + (i >>> 11)) & 0xff;

for (const mode of ['sync', 'async'] as const) {
  test(`${mode}: the active dies during a 4 MB echo; ${mode === 'sync' ? 'every byte comes back once, in order' : 'the stream completes exactly or is reset, never wrong'}`, async () => {
    const r = rig(mode, 'echo');
    try {
      const TOTAL = 4_000_000;
      const sock = r.client.connect({ host: S, port: PORT });
      await new Promise((res) => sock.once('connect', res));
      let received = 0, resumed = -1, wrongAt = -1;
      const errors: string[] = [];
      const ended = new Promise<void>((res) => {
        sock.on('error', (e) => { errors.push((e as NodeJS.ErrnoException).code ?? e.message); res(); });
        sock.on('data', (d: Buffer) => {
          for (let k = 0; k < d.length; k++) if (wrongAt < 0 && d[k] !== echoByte(received + k)) wrongAt = received + k;
          received += d.length;
          if (resumed < 0 && received >= TOTAL * 0.4) resumed = r.crash(mode === 'async' ? 200 : 0);
          if (received >= TOTAL) res();
        });
      });
      let sent = 0;
      const more = (): void => {
        while (sent < TOTAL) {
          const n = Math.min(65536, TOTAL - sent);
          const c = new Uint8Array(n);
          for (let k = 0; k < n; k++) c[k] = echoByte(sent + k);
          sent += n;
          if (!sock.write(c)) { sock.once('drain', more); return; }
        }
      };
      more();
      await timeout(ended, 30_000, () => `received ${received}/${TOTAL}, errors ${errors.join(',')}, held ${r.rep.stats.heldNow}`);
      assert.is(resumed, 1);
      assert.is(wrongAt, -1, 'every byte received is the right byte');
      if (mode === 'sync') {
        assert.ok(r.ahead() > 0, 'large deltas went ahead in frames of their own');
        assert.is(received, TOTAL);
        assert.equal(errors, []);
        assert.is(r.verifier.diverged, 0);
      } else {
        // Async: survival is not promised; a reset must come from the divergence check.
        if (received < TOTAL) { assert.equal(errors, ['ECONNRESET']); assert.is(r.verifier.diverged, 1); } else assert.equal(errors, []);
      }
      assert.ok(r.rep.stats.bytesSent < TOTAL * 0.4 * 2 * 1.5 + 1_000_000, `replication cost ${r.rep.stats.bytesSent} bytes for ${TOTAL * 0.4 * 2} bytes of stream (deltas, not full queues)`);
      sock.destroy();
    } finally { r.close(); }
  });
}

test('async: when the standby missed recent output, the resumed connection is reset (never hung, never corrupted)', async () => {
  const r = rig('async', 'echo', 30);
  try {
    const sock = r.client.connect({ host: S, port: PORT });
    await new Promise((res) => sock.once('connect', res));
    const sentBytes: number[] = [];
    let received = 0, bad = false;
    const errors: string[] = [];
    const closed = new Promise<void>((res) => { sock.on('close', () => res()); });
    sock.on('error', (e) => errors.push((e as NodeJS.ErrnoException).code ?? e.message));
    sock.on('data', (d: Buffer) => { for (const b of d) { if (b !== ((received * 13) & 0xff)) bad = true; received++; } });
    let n = 0;
    const pump = setInterval(() => {
      const c = new Uint8Array(8192);
      for (let k = 0; k < c.length; k++) c[k] = ((n + k) * 13) & 0xff;
      n += c.length;
      sentBytes.push(c.length);
      sock.write(c);
    }, 2);
    // Replication silently stops; the active keeps echoing (async: output is not held until the lag bound).
    await new Promise((res) => setTimeout(res, 100));
    r.cutReplication();
    await new Promise((res) => setTimeout(res, 10));
    const atCrash = received;
    r.crash(200);
    await timeout(closed, 10_000, () => `received ${received}, errors ${errors.join(',')}`);
    clearInterval(pump);
    assert.not.ok(bad, 'every byte received is the right byte');
    assert.ok(atCrash > 0);
    assert.equal(errors, ['ECONNRESET'], 'the connection was reset, promptly');
    assert.is(r.verifier.diverged, 1, 'the standby detected the divergence');
  } finally { r.close(); }
});

test('sync: when the hand-over link goes down, held packets go out and the connection carries on unprotected', async () => {
  const r = rig('sync', 'counter');
  try {
    const sock = r.client.connect({ host: S, port: PORT });
    await new Promise((res) => sock.once('connect', res));
    let got = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => { got += d; });
    sock.write('a\n');
    await timeout(new Promise<void>((res) => { const t = setInterval(() => { if (got.includes('\n')) { clearInterval(t); res(); } }, 2); }), 5000, () => got);
    // The standby stops answering: the next answer is held...
    r.cutReplication();
    sock.write('b\n');
    await new Promise((res) => setTimeout(res, 100));
    assert.is(got, '1 a\n', 'held while the standby is silent (sync)');
    assert.ok(r.rep.stats.heldNow > 0);
    // ...until the link is known to be down: then it goes out, and later answers are not held.
    r.linkDown();
    sock.write('c\n');
    await timeout(new Promise<void>((res) => { const t = setInterval(() => { if (got.split('\n').length > 3) { clearInterval(t); res(); } }, 2); }), 5000, () => got);
    assert.is(got, '1 a\n2 b\n3 c\n');
    assert.not.ok(r.rep.enabled, 'replication stopped');
    assert.is(r.rep.stats.heldNow, 0);
    sock.destroy();
  } finally { r.close(); }
});

test.run();
