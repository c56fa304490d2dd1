// Live migration against the Linux kernel (issue #7, item 5): a kernel HTTP client (node:http in
// namespace C) downloads a large body from a ferry server on a TUN in namespace A; mid-transfer
// the live TCP connection and the server's state (the body offset) move to a second ferry Host
// on a TUN in namespace B, and C's route to the service address 10.200.0.10 switches to B. The
// client's sha256 must match and it must see no error; the largest gap between bytes arriving at
// the client is printed, with and without the move. The snapshot and the straggling packets
// travel over the hand-over link (migrate/handover.ts, loopback). A third test does the same
// move under a real `curl` (sha256 of its output file). Topology: PEERS.md §2 (mk-<pid>-{a,b,c}).
// FERRY_MIGRATE_MB sets the size (default 200); FERRY_MK_PCAP=1 records /tmp/mk-{a,b}.pcap.
// Needs root and /dev/net/tun: without them the test FAILS saying so.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ReplayGuard } from '../../migrate/envelope.ts';
import { freezeSocket, releaseFrozen, resumeSocket, takeHeldPackets, type Resumed } from '../../migrate/host.ts';
import { connectHandover, decodeAck, encodeAck, listenHandover, type Frame, type HandoverLink } from '../../migrate/handover.ts';
import type { Server as NetServer } from 'node:net';
import type { Socket } from '../../tun/net.ts';
import { buildMoveTopology, delNetns, ip, nsRun } from '../../tun/netns.ts';
import { openTunHost, type TunHost } from '../../tun/tun-host.ts';
import { nsNode, sha256File } from './helpers/services.ts';

const P = `mk-${process.pid}`;
const NA = `${P}-a`, NB = `${P}-b`, NC = `${P}-c`;
const SVC = '10.200.0.10';
const PORT = 80;
/** Body size (MB): 200 unless FERRY_MIGRATE_MB says otherwise. */
const MB = Number(process.env.FERRY_MIGRATE_MB ?? 200);
const TOTAL = MB * 1000 * 1000;
const CHUNK = 64 * 1024;
const KEY = new Uint8Array(32).fill(0x5a);

function missing(): string | null {
  const miss: string[] = [];
  if (process.getuid?.() !== 0) miss.push('root (CAP_NET_ADMIN): run the tests as root');
  if (!existsSync('/dev/net/tun')) miss.push('/dev/net/tun: modprobe tun');
  if (!existsSync(fileURLToPath(new URL('../../build/Release/ferry_tun.node', import.meta.url)))) miss.push('the native addon: run npm install');
  return miss.length === 0 ? null : `migrate-kernel test cannot run: ${miss.join('; ')}`;
}
const MISSING = missing();

// The body: a 4 MB random pool, read in 64 KB chunks at a stride that does not divide it, with
// each chunk's offset stamped in its first 8 bytes (a reordered or repeated chunk changes the hash).
const POOL = randomBytes(4 << 20);
function chunkAt(off: number): Uint8Array {
  const n = Math.min(CHUNK, TOTAL - off);
  const k = off / CHUNK;
  const start = (k * 7919 * 8) % (POOL.length - CHUNK);
  const b = new Uint8Array(POOL.subarray(start, start + n));
  const dv = new DataView(b.buffer);
  if (n >= 8) dv.setFloat64(0, off);
  return b;
}
function expectedSha(): string {
  const h = createHash('sha256');
  for (let off = 0; off < TOTAL; off += CHUNK) h.update(chunkAt(off));
  return h.digest('hex');
}

// The kernel-side client: GET the body, hash it, record the largest gap between arrivals (and
// the byte count at which it ended). Prints one JSON line.
const CLIENT = `
const http = require('node:http'), crypto = require('node:crypto');
const h = crypto.createHash('sha256');
const moveAt = Number(process.argv[3]);
let got = 0, last = 0, gap = 0, gapAt = 0, t0 = 0, moveGap = -1;
const req = http.get({ host: process.argv[1], port: Number(process.argv[2]), path: '/file' }, (res) => {
  t0 = last = performance.now();
  res.on('data', (d) => {
    const t = performance.now();
    if (t - last > gap) { gap = t - last; gapAt = got; }
    if (moveAt >= 0 && got <= moveAt && moveAt < got + d.length) moveGap = t - last;
    last = t; got += d.length; h.update(d);
  });
  res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, got, sha: h.digest('hex'), gapMs: gap, gapAt, moveGapMs: moveGap, ms: performance.now() - t0 })));
  res.on('error', (e) => console.log(JSON.stringify({ error: String(e), got })));
});
req.on('error', (e) => console.log(JSON.stringify({ error: String(e), got })));
`;

let A: TunHost | null = null, B: TunHost | null = null;
let want = '';
let hsB: NetServer | null = null;
let linkA: HandoverLink | null = null;
/** What node B does with the next socket it resumes (set by the migrating server). */
let onResumed: ((r: Resumed) => void) | null = null;

test.before(async () => {
  if (MISSING !== null) return;
  // B answers the client's address (10.201.1.1, on C's link to A) back through C.
  buildMoveTopology({ c: NC, a: NA, b: NB, net: '10.201', ifp: 'mk' });
  // Two separate stacks (separate secrets), both answering as the service address.
  A = openTunHost({ tun: '10.200.1.1/24', ip: SVC, netns: NA, pcap: process.env.FERRY_MK_PCAP ? '/tmp/mk-a.pcap' : null, secret: new Uint8Array(32).fill(1) });
  B = openTunHost({ tun: '10.200.2.1/24', ip: SVC, netns: NB, pcap: process.env.FERRY_MK_PCAP ? '/tmp/mk-b.pcap' : null, secret: new Uint8Array(32).fill(2) });
  want = expectedSha();
  const guard = new ReplayGuard();
  hsB = await listenHandover('127.0.0.1', 0, { key: KEY, name: 'node-b' }, (link) => {
    link.on('frame', (f: Frame) => {
      if (f.type === 'snapshot') {
        const id = f.payload.subarray(5, 21);
        try {
          const r = resumeSocket(B!.host, f.payload, KEY, guard);
          link.send('ack', encodeAck({ ok: true, id, message: 'resumed' }));
          if (onResumed !== null) onResumed(r);
          else r.socket.destroy();
        } catch (e) {
          link.send('ack', encodeAck({ ok: false, id, message: (e as Error).message }));
        }
      } else if (f.type === 'packet') B!.host.input([f.payload]);
    });
  });
  linkA = await connectHandover('127.0.0.1', (hsB.address() as { port: number }).port, { key: KEY, name: 'node-a' });
  await linkA.ready();
});

test.after(() => {
  linkA?.close(); hsB?.close();
  A?.close(); B?.close();
  if (MISSING === null) for (const n of [NA, NB, NC]) delNetns(n);
});

interface Served { done: Promise<void>; released: Promise<void>; migratedAt: number; heldForwarded: number; resumed: boolean; id: string | null; snapshotBytes: number }

/**
 * Serve one GET on A. With `moveAt`, once that many body bytes are written: drain, freeze on A
 * (app state = offset), ship the envelope to node B over the hand-over link (loopback), B
 * resumes and acks, C's route switches to B, B goes on writing from the offset; packets that
 * still reach A are forwarded over the link for 300 ms, then A releases the connection.
 */
function serveOnce(moveAt: number | null): Served {
  const a = A!.host, b = B!.host;
  let onReleased = (): void => {};
  const st: Served = { done: Promise.resolve(), released: new Promise<void>((r) => { onReleased = r; }), migratedAt: -1, heldForwarded: 0, resumed: false, id: null, snapshotBytes: 0 };
  const server = a.createServer({ allowHalfOpen: true, noDelay: true }, () => {});
  st.done = new Promise<void>((resolve, reject) => {
    server.once('connection', (sock: Socket) => {
      server.close();
      let req = '';
      const onData = (d: Buffer): void => {
        req += d.toString('latin1');
        if (!req.includes('\r\n\r\n')) return;
        sock.off('data', onData);
        sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${TOTAL}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n`);
        pump(sock, 0);
      };
      sock.on('data', onData);
      sock.on('error', reject);
      const pump = (s: Socket, from: number): void => {
        let off = from;
        const more = (): void => {
          while (off < TOTAL) {
            if (moveAt !== null && st.migratedAt < 0 && off >= moveAt) {
              if (s.writableLength === 0) migrate(s, off); else s.once('drain', () => migrate(s, off));
              return;
            }
            const c = chunkAt(off);
            off += c.length;
            if (!s.write(c)) { s.once('drain', more); return; }
          }
          s.end(() => resolve());
        };
        more();
      };
      const migrate = (s: Socket, off: number): void => {
        try {
          st.migratedAt = off;
          const app = new Uint8Array(8);
          new DataView(app.buffer).setFloat64(0, off);
          const f = freezeSocket(a, s, KEY, { app });
          st.snapshotBytes = f.snapshotBytes;
          st.id = f.id;
          // Node B resumes what arrives on the hand-over link, then acks; only then does the
          // client's route switch. Meanwhile A holds the connection's packets.
          onResumed = (r) => {
            onResumed = null;
            st.resumed = true;
            const from = new DataView(r.app.buffer, r.app.byteOffset, 8).getFloat64(0);
            r.socket.on('error', reject);
            pump(r.socket, from);
          };
          const link = linkA!;
          const onFrame = (fr: Frame): void => {
            if (fr.type !== 'ack') return;
            link.off('frame', onFrame);
            const ack = decodeAck(fr.payload);
            if (ack === null || !ack.ok) { reject(new Error(`B refused the snapshot: ${ack?.message ?? 'bad ack'}`)); return; }
            ip(['route', 'replace', `${SVC}/32`, 'via', '10.201.2.2'], NC);
            // Stragglers that still reach A (ACKs in flight) go to B over the link, then A lets go.
            const forward = (h: Uint8Array[]): void => { st.heldForwarded += h.length; for (const p of h) link.send('packet', p); };
            forward(takeHeldPackets(a, f.id));
            const fwd = setInterval(() => forward(takeHeldPackets(a, f.id)), 5);
            setTimeout(() => { clearInterval(fwd); forward(releaseFrozen(a, f.id)); onReleased(); }, 300);
          };
          link.on('frame', onFrame);
          link.send('snapshot', f.envelope);
        } catch (e) { reject(e); }
      };
    });
  });
  server.listen(PORT, SVC);
  return st;
}

async function download(moveAt: number | null): Promise<{ c: Record<string, unknown>; s: Served }> {
  ip(['route', 'replace', `${SVC}/32`, 'via', '10.201.1.2'], NC);
  const s = serveOnce(moveAt);
  const [r] = await Promise.all([nsNode(NC, CLIENT, [SVC, PORT, moveAt ?? -1], 50_000), s.done]);
  return { c: r.json, s };
}

test(`a kernel client (node:http in C) downloads ${MB} MB with no move (baseline gap)`, async () => {
  if (MISSING !== null) assert.unreachable(MISSING);
  const { c } = await download(null);
  assert.is(c.error, undefined, String(c.error));
  assert.is(c.status, 200);
  assert.is(c.got, TOTAL);
  assert.is(c.sha, want, 'sha256 matches');
  console.log(`\n  no move: ${MB} MB in ${(Number(c.ms) / 1000).toFixed(2)} s, largest arrival gap ${Number(c.gapMs).toFixed(1)} ms (at byte ${c.gapAt})`);
});

test(`a kernel client's live download moves from namespace A to B at 40% of ${MB} MB; sha256 matches`, async () => {
  if (MISSING !== null) assert.unreachable(MISSING);
  const moveAt = Math.floor((TOTAL * 0.4) / CHUNK) * CHUNK;
  const { c, s } = await download(moveAt);
  await s.released;
  assert.is(c.error, undefined, String(c.error));
  assert.ok(s.resumed, 'resumed on B');
  assert.is(s.migratedAt, moveAt);
  assert.is(c.status, 200);
  assert.is(c.got, TOTAL);
  assert.is(c.sha, want, 'sha256 matches');
  assert.ok(s.id !== null && !(s.id in A!.host.state.tcp), 'A keeps no trace of the moved connection');
  assert.is(Object.keys(A!.host.state.frozen.conns).length, 0, 'A released the frozen connection');
  assert.ok(s.id in B!.host.state.tcp, 'B holds the connection');
  console.log(`  moved at byte ${moveAt}: ${MB} MB in ${(Number(c.ms) / 1000).toFixed(2)} s, gap at the move ${Number(c.moveGapMs).toFixed(1)} ms, largest arrival gap ${Number(c.gapMs).toFixed(1)} ms (at byte ${c.gapAt}), snapshot ${s.snapshotBytes} B, ${s.heldForwarded} packets forwarded A→B`);
  assert.ok(Number(c.moveGapMs) >= 0, 'the client saw the byte at the move');
  assert.ok(Number(c.gapMs) < 2000, `largest gap ${c.gapMs} ms`);
});

test(`curl downloads ${MB} MB while the connection moves from A to B; sha256 matches`, async () => {
  if (MISSING !== null) assert.unreachable(MISSING);
  const moveAt = Math.floor((TOTAL * 0.4) / CHUNK) * CHUNK;
  ip(['route', 'replace', `${SVC}/32`, 'via', '10.201.1.2'], NC);
  const s = serveOnce(moveAt);
  const out = join(mkdtempSync(join(tmpdir(), 'mk-')), 'dl');
  try {
    const [r] = await Promise.all([
      nsRun(NC, 'curl', ['-sS', '-o', out, '-w', '%{http_code} %{size_download} %{time_total}', '--max-time', '45', `http://${SVC}/file`], { timeoutMs: 50_000 }),
      s.done,
    ]);
    await s.released;
    assert.is(r.stderr, '', `curl: ${r.stderr}`);
    assert.is(r.code, 0);
    const [code, size, secs] = r.stdout.trim().split(' ');
    assert.is(code, '200');
    assert.is(Number(size), TOTAL);
    assert.ok(s.resumed, 'resumed on B');
    assert.is(await sha256File(out), want, 'sha256 matches');
    console.log(`  curl: moved at byte ${moveAt}, ${MB} MB in ${secs} s`);
  } finally {
    rmSync(dirname(out), { recursive: true, force: true });
  }
});

test.run();
