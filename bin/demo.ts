// `ferry demo`: the README's main job. Until the HA node (issue #8) exists, it shows what the
// stack does today, every step a real run of product code: two ferry stacks in this process,
// joined by an in-memory link that drops 1% of packets (seeded); Node's own
// http.Server on one, Node's http client on the other, a 10 MB download checked by sha256;
// then the state of the live connection as plain data through the snapshot codec.
import http from 'node:http';
import { createHash } from 'node:crypto';
import { Host } from '../tun/driver.ts';
import { memLinkPair } from '../tun/memlink.ts';
import { serveHttp, FerryAgent } from '../tun/http.ts';
import { prngInit, nextFloat } from '../tun/prng.ts';
import { encodeState } from '../migrate/codec.ts';

const SERVER = '10.77.0.1', CLIENT = '10.77.0.2', PORT = 80, SIZE = 10 * 1024 * 1024;

const say = (s: string) => process.stdout.write(`${s}\n`);

export async function demo(): Promise<void> {
  const t0 = performance.now();
  const stamp = () => `[${((performance.now() - t0) / 1000).toFixed(2).padStart(6)} s]`;
  const body = new Uint8Array(SIZE);
  for (let i = 0, x = 0x12345678; i < SIZE; i++) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; body[i] = x & 0xff; }
  const want = createHash('sha256').update(body).digest('hex');

  // A lossy link: 1% of packets in each direction dropped, from a seeded PRNG.
  const rng = prngInit(2026);
  let dropped = 0;
  const [la, lb] = memLinkPair({
    filter: () => {
      if (nextFloat(rng) < 0.01) { dropped++; return false; }
      return true;
    },
  });
  const server = new Host({ addresses: [SERVER], link: la });
  const client = new Host({ addresses: [CLIENT], link: lb });
  say(`${stamp()} two ferry stacks: server ${SERVER}, client ${CLIENT}, joined by an in-memory link that drops 1% of packets`);

  const httpServer = http.createServer((req, res) => {
    res.writeHead(200, { 'content-length': String(SIZE), 'content-type': 'application/octet-stream' });
    res.end(body);
  });
  const listener = serveHttp(server, httpServer, PORT);
  await new Promise<void>((resolve) => listener.once('listening', () => resolve()));
  say(`${stamp()} Node's http.Server listening on ferry ${SERVER}:${PORT}`);

  const agent = new FerryAgent(client, { keepAlive: false });
  let snapshotBytes = 0, snapshotState = '';
  const got = await new Promise<{ sha: string; bytes: number }>((resolve, reject) => {
    const req = http.get({ host: SERVER, port: PORT, path: '/big', agent }, (res) => {
      const h = createHash('sha256');
      let n = 0;
      res.on('data', (c: Buffer) => {
        h.update(c); n += c.length;
        if (snapshotBytes === 0 && n > SIZE / 2) {
          // Mid-transfer: every bit of the server's TCP state is plain data.
          const st = server.state as unknown as { tcp: Record<string, unknown> };
          const conns = Object.values(st.tcp);
          const tcb = conns.find((c) => (c as { state?: string }).state === 'ESTABLISHED');
          if (tcb) { snapshotBytes = encodeState(tcb).length; snapshotState = 'ESTABLISHED'; }
        }
      });
      res.on('end', () => resolve({ sha: h.digest('hex'), bytes: n }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  say(`${stamp()} downloaded ${got.bytes} bytes over ferry TCP; ${dropped} packets dropped by the link and recovered by TCP`);
  if (snapshotBytes) say(`${stamp()} mid-transfer, the server's ${snapshotState} connection encoded as plain data: ${snapshotBytes} bytes (with its send buffer)`);
  say(`${stamp()} sha256 sent     ${want}`);
  say(`${stamp()} sha256 received ${got.sha}`);
  agent.destroy();
  listener.close();
  httpServer.close();
  server.close();
  client.close();
  if (got.sha !== want || got.bytes !== SIZE) {
    say('demo: FAILED, the bytes differ');
    process.exitCode = 1;
    return;
  }
  say(`${stamp()} demo: OK. More in the README: ferry http/echo/get on a TUN against the kernel, SCTP with usrsctp, ferry fuzz (live migration), ferry conform.`);
}
