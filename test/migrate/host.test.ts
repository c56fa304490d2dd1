// Socket-level migration (migrate/host.ts): an echo server's live Socket moves from one Host
// to another (same service address) mid-transfer; the client's stream completes exactly.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { Host } from '../../tun/driver.ts';
import { MemLinkEnd, memLinkPair } from '../../tun/memlink.ts';
import type { Socket } from '../../tun/net.ts';
import { ReplayGuard } from '../../migrate/envelope.ts';
import { MigrateError, expectSocket, freezeSocket, releaseFrozen, resumeSocket, takeHeldPackets } from '../../migrate/host.ts';
import { connectHandover, decodeAck, encodeAck, listenHandover, type Frame } from '../../migrate/handover.ts';

const KEY = new Uint8Array(32).fill(0x42);
const C = '10.9.1.1', S = '10.9.1.2';
const TOTAL = 3_000_000;

function pattern(n: number, off: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = ((off + i) * 131 + ((off + i) >>> 9)) & 0xff;
  return b;
}

test('host: an echo server socket moves to another Host mid-transfer; every byte comes back once, in order', async () => {
  const [cEnd, s1End] = memLinkPair();
  const s2End = new MemLinkEnd(1, {});
  const client = new Host({ addresses: [C], link: cEnd, secret: new Uint8Array(32).fill(1) });
  const s1 = new Host({ addresses: [S], link: s1End, secret: new Uint8Array(32).fill(2) });
  const s2 = new Host({ addresses: [S], link: s2End, secret: new Uint8Array(32).fill(3) });
  const guard = new ReplayGuard();
  try {
    // The echo application; its state (bytes echoed) travels in the snapshot blob.
    let echoed = 0;
    const echo = (sock: Socket) => {
      sock.on('data', (d: Buffer) => { echoed += d.length; sock.write(d); });
      sock.on('end', () => sock.end());
      sock.on('error', (e) => { throw e; });
    };
    let serverSock: Socket | null = null;
    const server = s1.createServer((sock) => { serverSock = sock; echo(sock); });
    server.listen(9000, S);
    await new Promise((r) => server.once('listening', r));

    // The client writes TOTAL bytes and checks the echo.
    const got = createHash('sha256');
    const want = createHash('sha256');
    let received = 0;
    const sock = client.connect({ host: S, port: 9000 });
    let migrated: (() => void) | null = null;
    const migratedAt = TOTAL / 3;
    const done = new Promise<void>((resolve, reject) => {
      sock.on('data', (d: Buffer) => {
        got.update(d);
        received += d.length;
        if (migrated !== null && received >= migratedAt) { const m = migrated; migrated = null; m(); }
        if (received === TOTAL) resolve();
      });
      sock.on('error', reject);
    });
    await new Promise((r) => sock.once('connect', r));
    let sent = 0;
    const writeMore = () => {
      while (sent < TOTAL) {
        const n = Math.min(64 * 1024, TOTAL - sent);
        const chunk = pattern(n, sent);
        want.update(chunk);
        sent += n;
        if (!sock.write(chunk)) { sock.once('drain', writeMore); return; }
      }
      sock.end();
    };
    writeMore();

    // Mid-transfer: quiesce the echo app, freeze, ship, switch the route, resume on s2.
    let resumedSock: Socket | null = null;
    let heldForwarded = 0;
    const migration = new Promise<void>((resolve, reject) => {
      migrated = () => {
        const ss = serverSock!;
        ss.pause();
        const go = () => {
          try {
            const blob = new TextEncoder().encode(JSON.stringify({ echoed }));
            const f = freezeSocket(s1, ss, KEY, { app: blob });
            assert.ok(f.snapshotBytes > 0);
            // The route moves at once; the snapshot arrives a little later: s2 holds the
            // connection's packets meanwhile (without expectSocket it would reset it).
            expectSocket(s2, f.id);
            cEnd.peer = s2End;
            s2End.peer = cEnd;
            setTimeout(() => {
              try {
                const r = resumeSocket(s2, f.envelope, KEY, guard);
                const st = JSON.parse(new TextDecoder().decode(r.app)) as { echoed: number };
                assert.is(st.echoed, echoed, 'application state arrived');
                resumedSock = r.socket;
                echo(r.socket);
                // The same envelope again is refused.
                assert.throws(() => resumeSocket(s2, f.envelope, KEY, guard), (e: unknown) => e instanceof MigrateError && /replayed/.test((e as Error).message));
                // Packets that still reached s1 are forwarded, then s1 lets go.
                const fwd = setInterval(() => { const h = takeHeldPackets(s1, f.id); heldForwarded += h.length; s2.input(h); }, 5);
                setTimeout(() => { clearInterval(fwd); s2.input(releaseFrozen(s1, f.id)); resolve(); }, 100);
              } catch (e) { reject(e); }
            }, 15);
          } catch (e) { reject(e); }
        };
        if (ss.writableLength === 0) go(); else ss.once('drain', go);
      };
    });
    await Promise.race([Promise.all([done, migration]), new Promise((_, rej) => setTimeout(() => rej(new Error(`timed out: received ${received}/${TOTAL}`)), 20_000).unref())]);
    assert.is(received, TOTAL);
    assert.is(got.digest('hex'), want.digest('hex'), 'the echoed stream is exact');
    assert.ok(resumedSock !== null, 'the resumed socket served the rest');
    assert.is(Object.keys(s1.state.tcp).length, 0, 's1 keeps no connection');
    assert.is(s1.state.frozen.n, 0, 's1 released the frozen connection');
    void heldForwarded;
  } finally {
    client.close(); s1.close(); s2.close();
  }
});

test('host: the snapshot and the redirected packets travel over the hand-over link; the route switches after the ack', async () => {
  const [cEnd, s1End] = memLinkPair();
  const s2End = new MemLinkEnd(1, {});
  const client = new Host({ addresses: [C], link: cEnd, secret: new Uint8Array(32).fill(1) });
  const s1 = new Host({ addresses: [S], link: s1End, secret: new Uint8Array(32).fill(2) });
  const s2 = new Host({ addresses: [S], link: s2End, secret: new Uint8Array(32).fill(3) });
  const guard = new ReplayGuard();
  // Node 2's hand-over endpoint: resume snapshots, take redirected packets, answer with an ack.
  let resumed: Socket | null = null;
  let redirected = 0;
  const hs = await listenHandover('127.0.0.1', 0, { key: KEY, name: 'node-2' }, (link) => {
    link.on('frame', (f: Frame) => {
      if (f.type === 'snapshot') {
        try {
          const r = resumeSocket(s2, f.payload, KEY, guard);
          resumed = r.socket;
          r.socket.on('data', (d: Buffer) => r.socket.write(d));
          r.socket.on('end', () => r.socket.end());
          link.send('ack', encodeAck({ ok: true, id: f.payload.subarray(5, 21), message: 'resumed' }));
        } catch (e) {
          link.send('ack', encodeAck({ ok: false, id: f.payload.subarray(5, 21), message: (e as Error).message }));
        }
      } else if (f.type === 'packet') { redirected++; s2.input([f.payload]); }
    });
  });
  try {
    let accepted: Socket | null = null;
    const server = s1.createServer((sock) => { accepted = sock; sock.on('data', (d: Buffer) => sock.write(d)); sock.on('end', () => sock.end()); });
    server.listen(9002, S);
    await new Promise((r) => server.once('listening', r));
    const sock = client.connect({ host: S, port: 9002 });
    await new Promise((r) => sock.once('connect', r));
    const N = 400_000;
    let got = 0;
    const done = new Promise<void>((resolve, reject) => {
      sock.on('data', (d: Buffer) => { got += d.length; if (got === N) resolve(); });
      sock.on('error', reject);
    });
    sock.write(new Uint8Array(N / 2).fill(1));
    await new Promise((r) => setTimeout(r, 30));
    // Migrate node 1's connection to node 2 over the link.
    const link = await connectHandover('127.0.0.1', (hs.address() as { port: number }).port, { key: KEY, name: 'node-1' });
    const ss = accepted as unknown as Socket;
    ss.pause();
    if (ss.writableLength > 0) await new Promise((r) => ss.once('drain', r));
    const fz = freezeSocket(s1, ss, KEY);
    const acked = new Promise<Frame>((resolve) => link.on('frame', (f: Frame) => { if (f.type === 'ack') resolve(f); }));
    link.send('snapshot', fz.envelope);
    const ack = decodeAck((await acked).payload)!;
    assert.ok(ack.ok, ack.message);
    // Resumed: switch the route, redirect what still reaches node 1, then let go.
    cEnd.peer = s2End;
    s2End.peer = cEnd;
    const fwd = setInterval(() => { for (const p of takeHeldPackets(s1, fz.id)) link.send('packet', p); }, 5);
    sock.write(new Uint8Array(N / 2).fill(2));
    await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error(`timed out at ${got}/${N}`)), 10_000).unref())]);
    clearInterval(fwd);
    for (const p of releaseFrozen(s1, fz.id)) link.send('packet', p);
    assert.is(got, N);
    assert.ok(resumed !== null);
    link.close();
    void redirected;
  } finally {
    hs.close(); client.close(); s1.close(); s2.close();
  }
});

test('host: bytes still in the socket\'s stream buffer and a pending end() move with it; the peer gets all, then EOF', async () => {
  const [cEnd, s1End] = memLinkPair();
  const s2End = new MemLinkEnd(1, {});
  const client = new Host({ addresses: [C], link: cEnd, secret: new Uint8Array(32).fill(1) });
  const s1 = new Host({ addresses: [S], link: s1End, secret: new Uint8Array(32).fill(2) });
  const s2 = new Host({ addresses: [S], link: s2End, secret: new Uint8Array(32).fill(3) });
  try {
    let accepted: Socket | null = null;
    const server = s1.createServer({ tcp: { sndBuf: 4096 } }, (sock) => { accepted = sock; });
    server.listen(9001, S);
    await new Promise((r) => server.once('listening', r));
    const sock = client.connect({ host: S, port: 9001 });
    const N = 3_000_000;
    const got = createHash('sha256');
    let n = 0;
    const ended = new Promise<void>((resolve, reject) => {
      sock.on('data', (d: Buffer) => { got.update(d); n += d.length; });
      sock.on('end', () => resolve());
      sock.on('error', reject);
    });
    await new Promise((r) => sock.once('connect', r));
    await new Promise((r) => setTimeout(r, 10));
    const ss = accepted as unknown as Socket;
    sock.pause(); // the client reads nothing yet: the server's stack buffer fills, the rest waits in the stream
    const body = pattern(N, 0);
    ss.write(body.subarray(0, 1_500_000));
    ss.write(body.subarray(1_500_000));
    ss.end();
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(ss.writableLength > 1_000_000, `most of it is still in the stream buffer (${ss.writableLength})`);
    const fz = freezeSocket(s1, ss, KEY);
    // Straight onto s2 (no link needed here): route switch, resume, let the client read.
    cEnd.peer = s2End;
    s2End.peer = cEnd;
    const r = resumeSocket(s2, fz.envelope, KEY, new ReplayGuard());
    for (const p of releaseFrozen(s1, fz.id)) s2.input([p]);
    sock.resume();
    await Promise.race([ended, new Promise((_, rej) => setTimeout(() => rej(new Error(`timed out at ${n}/${N}`)), 10_000).unref())]);
    assert.is(n, N, 'every byte, once');
    assert.is(got.digest('hex'), createHash('sha256').update(body).digest('hex'), 'in order');
    assert.ok(r.socket.writableEnded, 'the resumed socket carried the end()');
  } finally {
    client.close(); s1.close(); s2.close();
  }
});

test.run();
