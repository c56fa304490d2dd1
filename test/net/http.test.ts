// Node's own http.Server and http client on ferry sockets: two in-process Hosts over memlink.
import http from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FerryAgent, serveHttp } from '../../tun/http.ts';
import type { Socket } from '../../tun/net.ts';
import { B, hostPair, pseudoRandom, sha256, waitFor, within } from './helpers/pair.ts';

const BIG = 10 * 1024 * 1024;

/** GET through `agent`; resolves with status, headers, body and the socket used. */
function get(agent: http.Agent, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Uint8Array; socket: Socket; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: B, port: 80, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode ?? 0, headers: res.headers, body: new Uint8Array(Buffer.concat(chunks)),
        socket: req.socket as unknown as Socket, reused: req.reusedSocket,
      }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('http.Server streams 10 MB byte-exact; a second request reuses the keep-alive connection', async () => {
  const { a, b, close } = hostPair();
  const body = pseudoRandom(BIG, 10);
  const httpServer = http.createServer((req, res) => {
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG });
      // Stream it in 64 KB pieces, honouring backpressure.
      let off = 0;
      const pump = () => {
        while (off < BIG) {
          const piece = body.subarray(off, off + 65536);
          off += piece.length;
          if (!res.write(piece)) { res.once('drain', pump); return; }
        }
        res.end();
      };
      pump();
    } else {
      res.end(`small ${req.url}`);
    }
  });
  const agent = new FerryAgent(a, { keepAlive: true, maxSockets: 1 });
  try {
    const srv = serveHttp(b, httpServer, 80);
    await waitFor(srv, 'listening');
    const r1 = await within(get(agent, '/big'), 30_000, '10 MB GET');
    assert.is(r1.status, 200);
    assert.is(r1.headers['content-length'], String(BIG));
    assert.is(r1.body.length, BIG);
    assert.is(sha256(r1.body), sha256(body));
    assert.is(r1.reused, false);
    const r2 = await within(get(agent, '/again'), 5000, 'second GET');
    assert.is(r2.status, 200);
    assert.is(new TextDecoder().decode(r2.body), 'small /again');
    assert.is(r2.reused, true, 'the second request went over the same connection');
    assert.is(r2.socket, r1.socket);
    assert.ok(r1.socket.bytesRead > BIG, `bytesRead ${r1.socket.bytesRead}`);
  } finally {
    agent.destroy();
    httpServer.close();
    close();
  }
});

test('http: POST body reaches the server; server sees the ferry remote address', async () => {
  const { a, b, close } = hostPair();
  const httpServer = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.end(`${req.socket.remoteAddress} ${sha256(new Uint8Array(Buffer.concat(chunks)))}`));
  });
  const agent = new FerryAgent(a);
  try {
    const srv = serveHttp(b, httpServer, 80);
    await waitFor(srv, 'listening');
    const payload = pseudoRandom(300_000, 5);
    const reply = await within(new Promise<string>((resolve, reject) => {
      const req = http.request({ host: B, port: 80, path: '/up', method: 'POST', agent }, (res) => {
        let s = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { s += c; });
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      req.end(payload);
    }), 10_000, 'POST');
    assert.is(reply, `${a.config.addresses[0]} ${sha256(payload)}`);
  } finally {
    agent.destroy();
    httpServer.close();
    close();
  }
});

test.run();
