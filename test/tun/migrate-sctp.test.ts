// Live SCTP migration against a stack ferry did not write (issue #7 item 5, second bullet): a
// usrsctp `client` in namespace C streams lines to a ferry SCTP echo service on a TUN in
// namespace A; mid-stream the live association (tun/sctp-socket.ts SctpHost.freeze/exportAssoc,
// migrate/snapshot.ts kind 'sctp-assoc', sealed with migrate/envelope.ts) moves over the
// hand-over link (migrate/handover.ts, loopback) to a second ferry SCTP stack on a TUN in
// namespace B, which adopts it and goes on echoing; C's route to the service address switches
// to B. Every line must come back exactly once, in order, and the client must see no ABORT.
// Topology as in migrate-kernel.test.ts (PEERS.md §2): ms-<pid>-{a,b,c}. usrsctp learns its
// addresses at start-up (PEERS.md §3): it starts after every device and address exists.
// Both devices are recorded and judged by tshark (well-formed, no ABORT chunk, DATA through B);
// FERRY_MS_KEEP=1 keeps the captures (path printed). Needs root, /dev/net/tun, usrsctp's
// examples and tshark: without them the test FAILS saying so.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Server as NetServer } from 'node:net';
import { ReplayGuard, openSnapshot, sealSnapshot } from '../../migrate/envelope.ts';
import { connectHandover, decodeAck, encodeAck, listenHandover, type Frame, type HandoverLink } from '../../migrate/handover.ts';
import { decodeSnapshot, encodeSnapshot } from '../../migrate/snapshot.ts';
import { buildMoveTopology, delNetns, ip, nsSpawn } from '../../tun/netns.ts';
import { createServer, type Association, type Message } from '../../tun/sctp-socket.ts';
import { openSctpTun, type SctpTun } from '../../tun/sctp-tun.ts';
import { tsharkCheck, tsharkFields } from '../helpers/tshark.ts';
import { demoLines } from '../../bin/demo-ha.ts';

const P = `ms-${process.pid}`;
const NA = `${P}-a`, NB = `${P}-b`, NC = `${P}-c`;
const SVC = '10.202.0.10';
const PORT = 7;
const USRSCTP = '/usr/lib/usrsctp';
const KEY = new Uint8Array(32).fill(0x3c);
const LINES = 300;
/** The association moves once A has echoed this many messages. */
const MOVE_AT = 100;

function missing(): string | null {
  const miss: string[] = [];
  if (process.getuid?.() !== 0) miss.push('root (CAP_NET_ADMIN): run the tests as root');
  if (!existsSync('/dev/net/tun')) miss.push('/dev/net/tun: modprobe tun');
  if (!existsSync(`${USRSCTP}/client`)) miss.push(`usrsctp's client in ${USRSCTP}: apt-get install -y libusrsctp-examples`);
  try { execFileSync('sh', ['-c', 'command -v tshark'], { stdio: 'ignore' }); } catch { miss.push('tshark: apt-get install -y tshark'); }
  if (!existsSync(fileURLToPath(new URL('../../build/Release/ferry_tun.node', import.meta.url)))) miss.push('the native addon: run npm install');
  return miss.length === 0 ? null : `migrate-sctp test cannot run: ${miss.join('; ')}`;
}
const MISSING = missing();

let A: SctpTun | null = null, B: SctpTun | null = null;
let hsB: NetServer | null = null;
let linkA: HandoverLink | null = null;
let child: ChildProcess | null = null;
let dir = '';
/** What node B does with the association it adopts. */
let onAdopted: ((a: Association, echoed: number) => void) | null = null;

test.before(async () => {
  if (MISSING !== null) return;
  // Either node reaches both of C's addresses (usrsctp lists every local address in its INIT).
  buildMoveTopology({ c: NC, a: NA, b: NB, net: '10.203', ifp: 'ms' });
  ip(['route', 'replace', `${SVC}/32`, 'via', '10.203.1.2'], NC);
  // Two separate SCTP stacks (separate secrets), both answering as the service address; each
  // records its device (judged by tshark afterwards).
  dir = mkdtempSync(join(tmpdir(), 'ms-'));
  A = openSctpTun({ tun: '10.202.1.1/24', ip: SVC, netns: NA, secret: new Uint8Array(32).fill(1), pcap: join(dir, 'a.pcap') });
  B = openSctpTun({ tun: '10.202.2.1/24', ip: SVC, netns: NB, secret: new Uint8Array(32).fill(2), pcap: join(dir, 'b.pcap') });
  const guard = new ReplayGuard();
  hsB = await listenHandover('127.0.0.1', 0, { key: KEY, name: 'node-b' }, (link) => {
    link.on('frame', (f: Frame) => {
      if (f.type === 'snapshot') {
        const id = f.payload.subarray(5, 21);
        try {
          const o = openSnapshot(f.payload, KEY, guard);
          if (!o.ok) throw new Error(`envelope: ${o.error}`);
          const d = decodeSnapshot(o.value.snapshot);
          if (!d.ok) throw new Error(`snapshot: ${d.error}`);
          if (d.value.kind !== 'sctp-assoc') throw new Error(`snapshot kind ${d.value.kind}`);
          const app = d.value.app;
          const echoed = app === null ? 0 : new DataView(app.buffer, app.byteOffset, app.length).getUint32(0);
          const assoc = B!.host.adopt(d.value.assoc);
          link.send('ack', encodeAck({ ok: true, id, message: 'adopted' }));
          onAdopted?.(assoc, echoed);
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
  if (child !== null && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  linkA?.close(); hsB?.close();
  A?.close(); B?.close();
  if (MISSING === null) for (const n of [NA, NB, NC]) delNetns(n);
  if (dir !== '' && !process.env.FERRY_MS_KEEP) rmSync(dir, { recursive: true, force: true });
});


test('a usrsctp client streaming to a ferry echo keeps its association while it moves from A to B: every line echoed once, in order, no ABORT', async () => {
  if (MISSING !== null) assert.unreachable(MISSING);
  const a = A!, b = B!;
  const st = { echoedA: 0, echoedB: 0, moved: false, forwarded: 0, errors: [] as string[], id: '' };
  let released = (): void => {};
  const releasedP = new Promise<void>((r) => { released = r; });
  const echo = (assoc: Association, side: 'A' | 'B'): void => {
    assoc.on('message', (m: Message) => {
      assoc.send(m.data, { stream: m.stream, ppid: m.ppid });
      if (side === 'A') {
        st.echoedA++;
        if (st.echoedA === MOVE_AT) setImmediate(() => migrate(assoc));
      } else st.echoedB++;
    });
    assoc.on('error', (e: Error) => st.errors.push(`${side}: ${e.message}`));
  };
  const migrate = (assoc: Association): void => {
    try {
      const id = assoc.id!;
      st.id = id;
      const fr = a.host.freeze(id);
      if (!fr.ok) throw new Error(`freeze: ${fr.error}`);
      const ex = a.host.exportAssoc(id);
      if (!ex.ok) throw new Error(`export: ${ex.error}`);
      const app = new Uint8Array(4);
      new DataView(app.buffer).setUint32(0, st.echoedA);
      const env = sealSnapshot(encodeSnapshot({ kind: 'sctp-assoc', takenAt: 0, assoc: ex.value, app }), KEY);
      onAdopted = (nb) => { onAdopted = null; st.moved = true; echo(nb, 'B'); };
      const link = linkA!;
      const onFrame = (f: Frame): void => {
        if (f.type !== 'ack') return;
        link.off('frame', onFrame);
        const ack = decodeAck(f.payload);
        if (ack === null || !ack.ok) { st.errors.push(`B refused: ${ack?.message ?? 'bad ack'}`); released(); return; }
        ip(['route', 'replace', `${SVC}/32`, 'via', '10.203.2.2'], NC);
        // Stragglers still reaching A go to B over the link; then A lets go.
        const forward = (h: Uint8Array[]): void => { st.forwarded += h.length; for (const p of h) link.send('packet', p); };
        forward(a.host.takeHeld(id));
        const t = setInterval(() => forward(a.host.takeHeld(id)), 5);
        setTimeout(() => { clearInterval(t); forward(a.host.release(id)); released(); }, 300);
      };
      link.on('frame', onFrame);
      link.send('snapshot', env);
    } catch (e) { st.errors.push(`migrate: ${(e as Error).message}`); released(); }
  };
  const server = createServer(a.host, { port: PORT }, (assoc) => echo(assoc, 'A'));

  const input = demoLines(LINES);
  // Started after both TUNs and every address exist (PEERS.md §3).
  const c = nsSpawn(NC, `${USRSCTP}/client`, [SVC, String(PORT)], { stdio: ['pipe', 'pipe', 'pipe'] });
  child = c;
  let out = '', err = '';
  c.stdout!.setEncoding('latin1').on('data', (s: string) => { out += s; });
  c.stderr!.setEncoding('latin1').on('data', (s: string) => { err += s; });
  const exited = new Promise<number | null>((r) => c.on('close', (code) => r(code)));
  // Stream: 10 lines every 25 ms, so lines are in flight before, during and after the move.
  let next = 0;
  const feed = setInterval(() => {
    if (c.stdin!.destroyed) { clearInterval(feed); return; }
    const k = Math.min(next + 10, LINES);
    c.stdin!.write(input.slice(next, k).join(''));
    next = k;
    if (next >= LINES) { clearInterval(feed); c.stdin!.end(); }
  }, 25);
  const kill = setTimeout(() => c.kill('SIGKILL'), 30_000);
  const code = await exited;
  clearTimeout(kill);
  clearInterval(feed);
  child = null;
  if (st.moved) await releasedP;
  server.close();

  const sent = input.join('');
  assert.equal(st.errors, [], 'no association errors on either node');
  assert.ok(st.moved, `the association moved (A echoed ${st.echoedA})`);
  assert.is(code, 0, `usrsctp client exited ${code}\nstdout: ${out.slice(-2000)}\nstderr: ${err}`);
  assert.match(out, /SCTP_COMM_UP/);
  assert.match(out, /SCTP_SHUTDOWN_COMP/);
  assert.not.match(out, /COMM_LOST|ABORT|CANT_STR_ASSOC/, 'the client saw no ABORT');
  const at = out.indexOf(sent);
  assert.ok(at >= 0, `the echo differs from what was sent (${sent.length} bytes; client stdout: ${out.slice(0, 3000)})`);
  assert.is(out.indexOf(sent, at + 1), -1, 'echoed twice');
  assert.is(st.echoedA + st.echoedB, LINES, 'every line echoed by exactly one node');
  assert.ok(st.echoedB > 0, 'B echoed after the move');
  assert.is(a.host.state.assocs[st.id], undefined, 'A keeps no trace of the moved association');
  assert.is(a.host.frozen.n, 0, 'A released the frozen association');
  // The wire on both devices: well-formed, no ABORT in either direction, DATA through B.
  a.pcap!.flush(); b.pcap!.flush();
  for (const name of ['A', 'B']) {
    const f = join(dir, `${name.toLowerCase()}.pcap`);
    const chk = await tsharkCheck(f);
    assert.ok(chk.ok, `tshark on ${name}'s device: ${chk.problems.join('; ')}`);
    assert.equal(await tsharkFields(f, ['frame.number'], 'sctp.chunk_type == 6'), [], `no ABORT crossed ${name}'s device`);
  }
  const dataB = await tsharkFields(join(dir, 'b.pcap'), ['ip.src'], 'sctp.chunk_type == 0');
  assert.ok(dataB.some((r) => r[0] === SVC) && dataB.some((r) => r[0] !== SVC), 'DATA both ways through B');
  if (process.env.FERRY_MS_KEEP) console.log(`\n  captures in ${dir}`);
  console.log(`\n  moved after ${st.echoedA} lines echoed by A; B echoed ${st.echoedB}; ${st.forwarded} packets forwarded A→B`);
});

test.run();
