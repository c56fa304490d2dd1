// The hand-over link (migrate/handover.ts): authenticated frames, replay and reorder refusal,
// bounded frames, garbage never crashes; and the same over real loopback sockets.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import {
  HandoverError, HandoverSession, connectHandover, decodeAck, encodeAck, listenHandover, type Frame, type HandoverLink,
} from '../../migrate/handover.ts';
import { nextU32, prngInit } from '../../tun/prng.ts';

const KEY = new Uint8Array(32).map((_, i) => i + 1);
const OTHER = new Uint8Array(32).map((_, i) => 200 - i);
const bytes = (s: string) => new TextEncoder().encode(s);

/** Two sessions with their hellos exchanged. */
function pair(ka = KEY, kb = KEY): [HandoverSession, HandoverSession] {
  const a = new HandoverSession({ key: ka, name: 'node-a', initiator: true });
  const b = new HandoverSession({ key: kb, name: 'node-b', initiator: false });
  assert.equal(b.receive(a.hello()), []);
  assert.equal(a.receive(b.hello()), []);
  return [a, b];
}

function code(fn: () => unknown): string {
  try { fn(); } catch (e) { if (e instanceof HandoverError) return e.code; throw e; }
  return 'none';
}

test('handover: hellos key the session; frames flow both ways in order', () => {
  const [a, b] = pair();
  assert.ok(a.established && b.established);
  assert.is(a.peerName, 'node-b');
  assert.is(b.peerName, 'node-a');
  const f1 = a.encode('snapshot', bytes('snap'));
  const f2 = a.encode('packet', bytes('pkt'));
  const got = b.receive(new Uint8Array([...f1, ...f2]));
  assert.equal(got.map((f: Frame) => [f.type, f.seq, new TextDecoder().decode(f.payload)]), [['snapshot', 1, 'snap'], ['packet', 2, 'pkt']]);
  const back = a.receive(b.encode('ack', encodeAck({ ok: true, id: new Uint8Array(16).fill(7), message: 'resumed' })));
  assert.equal(decodeAck(back[0]!.payload), { ok: true, id: new Uint8Array(16).fill(7), message: 'resumed' });
});

test('handover: frames split at every byte boundary still parse', () => {
  const [a, b] = pair();
  const f = a.encode('packet', new Uint8Array(300).fill(5));
  const frames: Frame[] = [];
  for (let i = 0; i < f.length; i++) frames.push(...b.receive(f.subarray(i, i + 1)));
  assert.is(frames.length, 1);
  assert.equal(frames[0]!.payload, new Uint8Array(300).fill(5));
});

test('handover: a hello under another cluster key is refused', () => {
  const a = new HandoverSession({ key: KEY, name: 'a', initiator: true });
  const b = new HandoverSession({ key: OTHER, name: 'b', initiator: false });
  assert.is(code(() => b.receive(a.hello())), 'bad-mac');
});

// Sessions with fixed nonces, so a fresh receiver can be built for frames already encoded.
const NA = new Uint8Array(16).fill(1), NB = new Uint8Array(16).fill(2);
const fixedA = () => new HandoverSession({ key: KEY, name: 'a', initiator: true, nonce: NA });
const fixedB = () => new HandoverSession({ key: KEY, name: 'b', initiator: false, nonce: NB });
/** A receiver established against any fixedA sender. */
function receiver(): HandoverSession {
  const b = fixedB();
  b.receive(fixedA().hello());
  return b;
}

test('handover: every single-bit flip of a frame is refused', () => {
  const a = fixedA();
  a.receive(fixedB().hello());
  const f = a.encode('packet', bytes('the packet'));
  assert.is(receiver().receive(f).length, 1, 'the unmodified frame is accepted');
  for (let i = 32; i < f.length * 8; i++) {
    const c = f.slice();
    c[i >>> 3]! ^= 1 << (i & 7);
    assert.is(code(() => receiver().receive(c)), 'bad-mac', `bit ${i}`);
  }
  // The length field: larger than the bound is refused at once; a smaller length cuts the MAC.
  const big = f.slice(); big[0]! ^= 0x80;
  assert.is(code(() => receiver().receive(big)), 'bad-length');
  const short = f.slice(); short[3]! -= 1;
  assert.is(code(() => receiver().receive(short)), 'bad-mac');
});

test('handover: replayed, reordered and cross-session frames are refused', () => {
  const a = fixedA(), b = fixedB();
  b.receive(a.hello()); a.receive(b.hello());
  const f1 = a.encode('packet', bytes('one'));
  const f2 = a.encode('packet', bytes('two'));
  const f3 = a.encode('packet', bytes('three'));
  // Reordered: 2 before 1.
  const r1 = fixedB(); r1.receive(fixedA().hello());
  assert.is(code(() => r1.receive(f2)), 'reordered');
  // Replayed: 1, 2, then 2 again.
  const r2 = fixedB(); r2.receive(fixedA().hello());
  assert.is(r2.receive(new Uint8Array([...f1, ...f2])).length, 2);
  assert.is(code(() => r2.receive(f2)), 'replayed');
  // A dead session stays dead.
  assert.is(code(() => r2.receive(f3)), 'replayed');
  // Recorded from this session, replayed into a new session (fresh random nonces): the MAC fails.
  const [, fresh] = pair();
  assert.is(code(() => fresh.receive(f1)), 'bad-mac');
});

test('handover: a reflected hello, data before the hello, a second hello are refused', () => {
  const a = new HandoverSession({ key: KEY, name: 'a', initiator: true });
  assert.is(code(() => a.receive(a.hello())), 'bad-hello');
  const [x] = pair();
  const b = new HandoverSession({ key: KEY, name: 'b', initiator: false });
  assert.is(code(() => b.receive(x.encode('packet', bytes('early')))), 'unexpected');
  const [, y] = pair();
  const again = new HandoverSession({ key: KEY, name: 'a', initiator: true }).hello();
  assert.ok(['unexpected', 'bad-mac'].includes(code(() => y.receive(again))));
});

test('handover: oversized frames are refused before they are buffered; encode refuses them too', () => {
  const b = new HandoverSession({ key: KEY, name: 'b', initiator: false, maxFrame: 1024 });
  const head = new Uint8Array([0x00, 0x10, 0x00, 0x00]); // 1 MiB announced
  assert.is(code(() => b.receive(head)), 'bad-length');
  const small = new HandoverSession({ key: KEY, name: 'b', initiator: false });
  assert.is(code(() => small.receive(new Uint8Array([0, 0, 0, 3, 1, 2, 3]))), 'bad-length');
  const [a] = pair();
  const tiny = new HandoverSession({ key: KEY, name: 'a', initiator: true, maxFrame: 100 });
  tiny.receive(new HandoverSession({ key: KEY, name: 'b', initiator: false }).hello());
  assert.throws(() => tiny.encode('packet', new Uint8Array(200)), /exceeds maxFrame/);
  void a;
});

test('handover: random garbage only ever yields HandoverErrors or waits for more', () => {
  const rng = prngInit(3);
  for (let k = 0; k < 3000; k++) {
    const s = new HandoverSession({ key: KEY, name: 'b', initiator: k % 2 === 0, maxFrame: 4096 });
    const n = nextU32(rng) % 200;
    const g = new Uint8Array(n).map(() => nextU32(rng) & 0xff);
    try { s.receive(g); } catch (e) { assert.instance(e, HandoverError); }
  }
});

// ------------------------------------------------------------------------------ sockets

async function listen(onLink: (l: HandoverLink) => void, refused: HandoverError[] = []) {
  const server = await listenHandover('127.0.0.1', 0, { key: KEY, name: 'server' }, onLink, (e) => refused.push(e));
  return { server, port: (server.address() as net.AddressInfo).port };
}

test('handover over loopback: snapshot, packet, ack; names; clean close', async () => {
  const got: Frame[] = [];
  let serverLink: HandoverLink | null = null;
  const { server, port } = await listen((l) => {
    serverLink = l;
    l.on('frame', (f: Frame) => {
      got.push(f);
      if (f.type === 'snapshot') l.send('ack', encodeAck({ ok: true, id: f.payload.subarray(0, 16), message: 'ok' }));
    });
  });
  try {
    const c = await connectHandover('127.0.0.1', port, { key: KEY, name: 'client' });
    assert.is(c.peerName, 'server');
    const acked = new Promise<Frame>((resolve) => c.on('frame', resolve));
    c.send('packet', bytes('redirected'));
    c.send('snapshot', new Uint8Array(100_000).fill(3));
    const ack = await acked;
    assert.is(ack.type, 'ack');
    assert.ok(decodeAck(ack.payload)!.ok);
    assert.equal(got.map((f) => f.type), ['packet', 'snapshot']);
    assert.is(got[1]!.payload.length, 100_000);
    assert.is(serverLink!.peerName, 'client');
    const closed = new Promise((resolve) => serverLink!.once('close', resolve));
    c.close();
    assert.is(await closed, null);
  } finally {
    server.close();
  }
});

test('handover over loopback: a wrong key and raw garbage are refused; the server keeps serving', async () => {
  const refused: HandoverError[] = [];
  const links: HandoverLink[] = [];
  const { server, port } = await listen((l) => links.push(l), refused);
  try {
    let err: unknown = null;
    try { await connectHandover('127.0.0.1', port, { key: OTHER, name: 'intruder', helloTimeoutMs: 2000 }); } catch (e) { err = e; }
    assert.instance(err, HandoverError);
    // Raw garbage from a plain socket.
    const raw = net.connect({ host: '127.0.0.1', port });
    await new Promise((r) => raw.once('connect', r));
    raw.resume();
    raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await new Promise((r) => raw.once('close', r));
    // A good client still gets in.
    const good = await connectHandover('127.0.0.1', port, { key: KEY, name: 'good' });
    assert.is(good.peerName, 'server');
    good.close();
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(refused.some((e) => e.code === 'bad-mac'), `refusals: ${refused.map((e) => e.code)}`);
    assert.ok(refused.some((e) => e.code === 'bad-length' || e.code === 'unexpected'), `refusals: ${refused.map((e) => e.code)}`);
    assert.is(links.length, 1);
  } finally {
    server.close();
  }
});

test.run();
