// The impure SCTP API (tun/sctp-socket.ts): createServer / connect, Association message events,
// shutdown / abort, error codes, and the Duplex view of one stream; on the simulator's virtual
// clock and on the real clock over an in-memory link pair.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Sim } from '../../tun/sim.ts';
import { memLinkPair } from '../../tun/memlink.ts';
import { SctpHost, connect, createServer, type Association, type Message } from '../../tun/sctp-socket.ts';

function simPair(seed = 1, link = { delayMs: 5 }) {
  const sim = new Sim({ seed });
  const a = new SctpHost({ addresses: ['10.0.0.1'], clock: sim.clock, secret: new Uint8Array(32).fill(1) });
  const b = new SctpHost({ addresses: ['10.0.0.2'], clock: sim.clock, secret: new Uint8Array(32).fill(2) });
  sim.addNode('a', a).addNode('b', b).addLink('l', 'a:eth0', 'b:eth0', link);
  return { sim, a, b };
}

test('echo server on the simulator: messages keep their stream and PPID; shutdown ends both sides', async () => {
  const { sim, a, b } = simPair();
  const serverSide: string[] = [];
  createServer(b, { port: 7 }, (assoc) => {
    assoc.on('message', (m: Message) => { serverSide.push(`${m.stream}:${m.data}`); assoc.send(m.data, { stream: m.stream, ppid: m.ppid }); });
    assoc.on('end', () => serverSide.push('end'));
  });
  const got: Message[] = [];
  let closed = false, connected = false;
  const c = connect(a, { remote: '10.0.0.2', port: 7 }, () => { connected = true; });
  c.on('message', (m: Message) => { got.push(m); if (got.length === 3) c.shutdown(); });
  c.on('close', () => { closed = true; });
  // Messages sent before the association is up are queued.
  c.send('one', { stream: 0, ppid: 11 });
  c.send('two', { stream: 1, ppid: 12 });
  c.send('three', { stream: 2, ppid: 13, unordered: true });
  await Promise.resolve();
  sim.run({ stopWhen: () => closed, until: 60_000 });
  assert.ok(connected);
  assert.ok(closed, 'association closed');
  assert.equal(got.map((m) => [m.stream, m.ppid, String(m.data)]).sort(), [[0, 11, 'one'], [1, 12, 'two'], [2, 13, 'three']]);
  assert.ok(serverSide.includes('end'), 'server saw the shutdown');
});

test('connect to a port nobody listens on: error ECONNREFUSED, then close', async () => {
  const { sim, a } = simPair();
  const seen: { err: NodeJS.ErrnoException | null; closed: boolean } = { err: null, closed: false };
  const c = connect(a, { remote: '10.0.0.2', port: 9 });
  c.on('error', (e: NodeJS.ErrnoException) => { seen.err = e; });
  c.on('close', () => { seen.closed = true; });
  sim.run({ stopWhen: () => seen.closed, until: 10_000 });
  assert.is(seen.err?.code, 'ECONNREFUSED');
});

test('abort: the peer sees ECONNRESET; send with a bad stream throws EINVAL', async () => {
  const { sim, a, b } = simPair();
  let peerErr: string | null = null;
  let server: Association | null = null;
  createServer(b, { port: 7 }, (s) => { server = s; s.on('error', (e: NodeJS.ErrnoException) => { peerErr = e.code ?? null; }); });
  const c = connect(a, { remote: '10.0.0.2', port: 7 });
  let up = false;
  c.on('connect', () => { up = true; });
  sim.run({ stopWhen: () => up && server !== null, until: 10_000 });
  await Promise.resolve();
  assert.throws(() => c.send('x', { stream: 500 }), (e: NodeJS.ErrnoException) => e.code === 'EINVAL');
  const closes: boolean[] = [];
  let ended = false;
  c.on('close', (e: boolean) => closes.push(e));
  c.on('end', () => { ended = true; });
  sim.at(sim.now, () => c.abort('done'));
  sim.run({ stopWhen: () => peerErr !== null, until: 20_000 });
  assert.is(peerErr, 'ECONNRESET');
  assert.equal(closes, [false], 'one close event');
  assert.is(ended, false);
});

test('real clock over an in-memory link: a Duplex stream view pipes bytes both ways, end() shuts down', async () => {
  const [la, lb] = memLinkPair();
  const a = new SctpHost({ addresses: ['10.0.0.1'], link: la });
  const b = new SctpHost({ addresses: ['10.0.0.2'], link: lb });
  try {
    createServer(b, { port: 7 }, (assoc) => {
      const s = assoc.stream(3);
      s.pipe(s); // echo on stream 3
    });
    const c = connect(a, { remote: '10.0.0.2', port: 7 });
    const s = c.stream(3, { ppid: 99 });
    const payload = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    const chunks: Buffer[] = [];
    const done = new Promise<void>((resolve, reject) => {
      s.on('data', (d: Buffer) => { chunks.push(d); if (chunks.reduce((n, x) => n + x.length, 0) >= payload.length) s.end(); });
      c.on('close', () => resolve());
      c.on('error', reject);
      setTimeout(() => reject(new Error('timeout')), 10_000).unref();
    });
    for (let i = 0; i < payload.length; i += 10_000) s.write(payload.subarray(i, i + 10_000));
    await done;
    const got = new Uint8Array(Buffer.concat(chunks));
    assert.is(got.length, payload.length);
    assert.equal(got, payload);
  } finally {
    a.close(); b.close();
  }
});

test.run();
