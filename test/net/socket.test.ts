// tun/net.ts over two in-process Hosts (tun/driver.ts) joined by tun/memlink.ts, real clock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket } from '../../tun/net.ts';
import { A, B, closed, hostPair, pseudoRandom, readAll, sha256, until, waitFor, within } from './helpers/pair.ts';

test('echo: 1 MB each way, byte-exact, both directions at once', async () => {
  const { a, b, close } = hostPair();
  try {
    const server = b.createServer((s) => s.pipe(s));
    server.listen(7);
    await waitFor(server, 'listening');
    const data = pseudoRandom(1 << 20, 7);
    const c = a.connect(7, B);
    const got = readAll(c, 20_000);
    c.end(data);
    const back = await got;
    assert.is(back.length, data.length);
    assert.is(sha256(back), sha256(data));
    await closed(c);
  } finally { close(); }
});

test('half-close: client end(), server keeps writing, then ends', async () => {
  const { a, b, close } = hostPair();
  try {
    const server = b.createServer({ allowHalfOpen: true }, async (s) => {
      const req = await readAll(s);                          // the client's FIN ends our readable side
      s.write(`got ${req.length}`);
      setImmediate(() => s.end(' bye'));                     // still writable after the peer's FIN
    });
    server.listen(80);
    await waitFor(server, 'listening');
    const c = a.connect({ port: 80, host: B, allowHalfOpen: true });
    await waitFor(c, 'connect');
    const reply = readAll(c);
    c.end('hello');
    await waitFor(c, 'finish');
    assert.is(c.writable, false);
    assert.is(new TextDecoder().decode(await reply), 'got 5 bye');
    await closed(c);
  } finally { close(); }
});

test('ECONNREFUSED: connect to a port nobody listens on', async () => {
  const { a, close } = hostPair();
  try {
    const c = a.connect(9, B);
    const [err] = await waitFor<[NodeJS.ErrnoException]>(c, 'error');
    assert.is(err.code, 'ECONNREFUSED');
    assert.is(err.syscall, 'connect');
    assert.ok(err.message.includes(`ECONNREFUSED ${B}:9`), err.message);
    await closed(c);
    assert.is(c.destroyed, true);
  } finally { close(); }
});

test('ECONNRESET: the peer destroys its socket with unread data', async () => {
  const { a, b, close } = hostPair();
  try {
    let srv: Socket | null = null;
    const server = b.createServer({ pauseOnConnect: true }, (s) => { srv = s; });
    server.listen(81);
    await waitFor(server, 'listening');
    const c = a.connect(81, B);
    await waitFor(c, 'connect');
    c.write('data the server never reads');
    await until(() => srv !== null && b.info(srv.id!)!.rcvBufUsed > 0, 5000, 'data reaches the server');
    const err = waitFor<[NodeJS.ErrnoException]>(c, 'error');
    srv!.destroy();                                         // close(2) with unread data → RST
    const [e] = await err;
    assert.is(e.code, 'ECONNRESET');
    await closed(c);
  } finally { close(); }
});

test('EPIPE: write after the peer ended (allowHalfOpen false)', async () => {
  const { a, b, close } = hostPair();
  try {
    const server = b.createServer({ allowHalfOpen: true }, (s) => { s.resume(); s.end(); });
    server.listen(82);
    await waitFor(server, 'listening');
    const c = a.connect(82, B);
    c.resume();
    const err = waitFor<[NodeJS.ErrnoException]>(c, 'error');
    let cbErr: NodeJS.ErrnoException | null | undefined;
    c.on('end', () => { c.write('too late', (e) => { cbErr = e; }); });
    assert.is((await err)[0].code, 'EPIPE');
    assert.is(cbErr?.code, 'EPIPE');
  } finally { close(); }
});

test('EADDRINUSE: a second listen on the same port', async () => {
  const { b, close } = hostPair();
  try {
    const s1 = b.createServer();
    s1.listen(83);
    await waitFor(s1, 'listening');
    const s2 = b.createServer();
    s2.listen(83);
    const [err] = await waitFor<[NodeJS.ErrnoException]>(s2, 'error');
    assert.is(err.code, 'EADDRINUSE');
    assert.is(err.syscall, 'listen');
    assert.is(s2.listening, false);
    assert.equal(s1.address(), { address: '0.0.0.0', family: 'IPv4', port: 83 });
    s1.close();
    await waitFor(s1, 'close');
    const s3 = b.createServer();                            // free again after close
    s3.listen(83);
    await waitFor(s3, 'listening');
    s3.close();
  } finally { close(); }
});

test('listen(0) picks a free port; address() reports it', async () => {
  const { b, close } = hostPair();
  try {
    const s1 = b.createServer(), s2 = b.createServer();
    s1.listen(0); s2.listen(0);
    await Promise.all([waitFor(s1, 'listening'), waitFor(s2, 'listening')]);
    const p1 = s1.address()!.port, p2 = s2.address()!.port;
    assert.ok(p1 >= b.config.ephemeralPorts[0] && p1 <= b.config.ephemeralPorts[1], String(p1));
    assert.is.not(p1, p2);
    s1.close(); s2.close();
  } finally { close(); }
});

test('setTimeout: fires on an idle connection, not before', async () => {
  const { a, b, close } = hostPair();
  try {
    const server = b.createServer((s) => s.resume());
    server.listen(84);
    await waitFor(server, 'listening');
    const c = a.connect(84, B);
    await waitFor(c, 'connect');
    const t0 = performance.now();
    let fired = 0;
    c.setTimeout(150, () => { fired++; });
    // Activity postpones it: write every 50 ms for 300 ms.
    for (let i = 0; i < 6; i++) { await new Promise((r) => setTimeout(r, 50)); c.write('x'); }
    assert.is(fired, 0);
    await waitFor(c, 'timeout', 2000);
    assert.ok(performance.now() - t0 >= 300 + 140, 'timeout waited for inactivity');
    assert.is(c.timeout, 150);
    assert.is(c.destroyed, false);                           // like Node: timeout only notifies
    c.destroy();
  } finally { close(); }
});

test('backpressure: a reader that pauses closes the window, write() returns false, all data arrives on resume', async () => {
  const rcvBuf = 64 * 1024, sndBuf = 64 * 1024;
  const { a, b, close } = hostPair({ tcp: { rcvBuf, sndBuf } });
  try {
    const parts: Buffer[] = [];
    let srv: Socket | null = null;
    const server = b.createServer((s) => {
      srv = s;
      // Read in flowing mode, then stop after the first 32 KB.
      const onData = (d: Buffer) => {
        parts.push(d);
        if (s.bytesRead >= 32 * 1024) { s.pause(); s.off('data', onData); }
      };
      s.on('data', onData);
    });
    server.listen(85);
    await waitFor(server, 'listening');
    const c = a.connect(85, B);
    await waitFor(c, 'connect');
    await until(() => srv !== null, 2000, 'accept');
    const s = srv as unknown as Socket;
    const data = pseudoRandom(1 << 20, 85);
    // Write everything at once: the stream buffers what the stack does not take.
    let sawFalse = false;
    for (let off = 0; off < data.length; off += 16384) if (!c.write(data.subarray(off, off + 16384))) sawFalse = true;
    assert.ok(sawFalse, 'write() returned false');
    // The receiver's window goes to zero while nobody reads, and the sender sees it.
    await until(() => b.info(s.id!)?.rcvWnd === 0 && a.info(c.id!)?.sndWnd === 0, 5000, 'zero window on both ends');
    const rinfo = b.info(s.id!)!, sinfo = a.info(c.id!)!;
    assert.is(rinfo.rcvBufUsed, rcvBuf, 'unread data fills the receive buffer');
    // The socket took from the stack only what its readable side asked for: its buffer is
    // bounded by the highWaterMark plus one recv chunk, not the whole transfer.
    const taken = s.bytesRead;
    assert.ok(taken >= 32 * 1024 && taken <= 32 * 1024 + s.readableHighWaterMark + 64 * 1024, `socket took ${taken} bytes`);
    assert.ok(sinfo.sndBufUsed >= sndBuf / 2, `the sender's send buffer stays full (${sinfo.sndBufUsed})`);
    assert.ok(c.writableLength > 0, 'the rest waits in the stream');
    assert.is(c.writableNeedDrain, true);
    // A while later nothing has moved: the window stays shut (the persist timer probes it).
    await new Promise((r) => setTimeout(r, 300));
    assert.is(s.bytesRead, taken);
    assert.is(b.info(s.id!)!.rcvWnd, 0);
    // Resume: everything arrives exactly, and the writer drains.
    const drained = waitFor(c, 'drain', 20_000);
    const rest = readAll(s, 20_000);
    s.resume();
    await drained;                                          // ('drain' never comes once end() was called)
    c.end();
    const g = Buffer.concat([...parts, Buffer.from(await rest)]);
    assert.is(g.length, data.length);
    assert.is(sha256(new Uint8Array(g)), sha256(data));
  } finally { close(); }
});

test('bytesRead / bytesWritten are exact on both ends', async () => {
  const { a, b, close } = hostPair();
  try {
    const up = pseudoRandom(123_457, 3), down = pseudoRandom(76_543, 4);
    let srv: Socket | null = null;
    const server = b.createServer({ allowHalfOpen: true }, (s) => {
      srv = s;
      s.resume();
      s.on('end', () => s.end(down));
    });
    server.listen(86);
    await waitFor(server, 'listening');
    const c = a.connect({ port: 86, host: B, allowHalfOpen: true });
    const got = readAll(c);
    c.end(up);
    assert.is((await got).length, down.length);
    await closed(c);
    const s = srv as unknown as Socket;
    await closed(s);
    assert.is(c.bytesWritten, up.length);
    assert.is(c.bytesRead, down.length);
    assert.is(s.bytesRead, up.length);
    assert.is(s.bytesWritten, down.length);
  } finally { close(); }
});

test('addresses: remote/local address, port and family on both ends', async () => {
  const { a, b, close } = hostPair();
  try {
    const server = b.createServer();
    server.listen(87);
    await waitFor(server, 'listening');
    const conn = waitFor<[Socket]>(server, 'connection');
    const c = a.connect(87, B);
    await waitFor(c, 'connect');
    const [s] = await conn;
    assert.is(c.remoteAddress, B); assert.is(c.remotePort, 87); assert.is(c.remoteFamily, 'IPv4');
    assert.is(c.localAddress, A);
    assert.equal(c.address(), { address: A, family: 'IPv4', port: c.localPort! });
    assert.is(s.remoteAddress, A); assert.is(s.remotePort, c.localPort);
    assert.is(s.localPort, 87);
    assert.is(s.server, server);
    c.destroy(); s.destroy();
  } finally { close(); }
});

test('200 concurrent connections all echo their own data', async () => {
  const { a, b, close } = hostPair();
  try {
    const server = b.createServer((s) => s.pipe(s));
    server.listen(88, undefined, 1024);
    await waitFor(server, 'listening');
    const N = 200;
    const runs = Array.from({ length: N }, async (_, i) => {
      const data = pseudoRandom(4096 + i * 13, 1000 + i);
      const c = a.connect(88, B);
      const got = readAll(c, 30_000);
      c.end(data);
      const back = await got;
      assert.is(sha256(back), sha256(data), `connection ${i}`);
    });
    await within(Promise.all(runs), 30_000, '200 echoes');
    let count = -1;
    await until(() => { server.getConnections((_, n) => { count = n; }); return count === 0; }, 5000, 'all server sockets closed');
  } finally { close(); }
});

test('destroy() after reading everything closes gracefully (FIN, no error at the peer)', async () => {
  const { a, b, close } = hostPair();
  try {
    const server = b.createServer((s) => { s.resume(); s.on('end', () => s.destroy()); });
    server.listen(89);
    await waitFor(server, 'listening');
    const c = a.connect(89, B);
    let error: Error | null = null;
    c.on('error', (e) => { error = e; });
    c.resume();
    c.end('bye');
    await closed(c);
    assert.is(error, null);
  } finally { close(); }
});

test('resetAndDestroy() sends RST: the peer sees ECONNRESET', async () => {
  const { a, b, close } = hostPair();
  try {
    const server = b.createServer((s) => s.resetAndDestroy());
    server.listen(90);
    await waitFor(server, 'listening');
    const c = a.connect(90, B);
    const [e] = await waitFor<[NodeJS.ErrnoException]>(c, 'error');
    assert.is(e.code, 'ECONNRESET');
  } finally { close(); }
});

test('server.close(): stops accepting; close event after its connections end', async () => {
  const { a, b, close } = hostPair();
  try {
    const server = b.createServer((s) => s.resume());
    server.listen(91);
    await waitFor(server, 'listening');
    const c = a.connect(91, B);
    await waitFor(server, 'connection');
    let closed = false;
    server.close(() => { closed = true; });
    const refused = a.connect(91, B);
    assert.is((await waitFor<[NodeJS.ErrnoException]>(refused, 'error'))[0].code, 'ECONNREFUSED');
    assert.is(closed, false);                                // one connection still open
    c.end();
    c.resume();
    await waitFor(server, 'close');
    assert.is(closed, true);
  } finally { close(); }
});

test('data still unread when the connection closes (TIME-WAIT) is delivered in full', async () => {
  const { a, b, close } = hostPair();
  try {
    const data = pseudoRandom(200_000, 93);
    const server = b.createServer({ allowHalfOpen: true }, (s) => { s.resume(); s.end(data); });
    server.listen(93);
    await waitFor(server, 'listening');
    const c = a.connect({ port: 93, host: B, allowHalfOpen: true });
    c.pause();
    c.end();                                                // our FIN first: we end in TIME-WAIT
    await until(() => c.id !== null && a.info(c.id)?.state === 'TIME-WAIT', 5000, 'TIME-WAIT');
    assert.is(c.readableFlowing, false, 'the application has not read');
    const got = readAll(c);
    c.resume();
    const g = await got;
    assert.is(sha256(g), sha256(data));
    await closed(c);
  } finally { close(); }
});

test('ETIMEDOUT: connect to a peer that never answers', async () => {
  // Everything a sends is lost; 1 SYN retransmission at a 100 ms initial RTO.
  const { a, close } = hostPair({ tcp: { synRetries: 1, initialRto: 100 } }, { filter: (_p, from) => from !== 0 });
  try {
    const c = a.connect(80, B);
    const [err] = await waitFor<[NodeJS.ErrnoException]>(c, 'error', 5000);
    assert.is(err.code, 'ETIMEDOUT');
    assert.is(err.syscall, 'connect');
  } finally { close(); }
});

test('IPv6: echo and address families', async () => {
  const A6 = 'fd00::1', B6 = 'fd00::2';
  const { a, b, close } = hostPair({}, {}, [A6, B6]);
  try {
    const server = b.createServer((s) => s.pipe(s));
    server.listen(7);
    await waitFor(server, 'listening');
    assert.equal(server.address(), { address: '::', family: 'IPv6', port: 7 });
    const c = a.connect(7, B6);
    const got = readAll(c);
    c.end('over six');
    assert.is(new TextDecoder().decode(await got), 'over six');
    assert.is(c.remoteFamily, 'IPv6');
    assert.equal(c.address(), { address: A6, family: 'IPv6', port: c.localPort! });
  } finally { close(); }
});

test('setNoDelay reaches the connection (and may be set before connecting)', async () => {
  const { a, b, close } = hostPair();
  try {
    const server = b.createServer();
    server.listen(92);
    await waitFor(server, 'listening');
    const c = a.connect(92, B).setNoDelay(true);
    await waitFor(c, 'connect');
    assert.is(a.info(c.id!)!.noDelay, true);
    c.setNoDelay(false);
    assert.is(a.info(c.id!)!.noDelay, false);
    c.destroy();
  } finally { close(); }
});

test.run();
