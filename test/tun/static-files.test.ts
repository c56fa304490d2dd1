// bin/services.ts staticFileServer (what `ferry http` serves), checked on a loopback socket:
// GET with Content-Length, HEAD, 404, no escape from the root, 405, a directory's index.html.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { staticFileServer } from '../../bin/services.ts';

let dir = '', server: http.Server, port = 0;

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fk-static-'));
  mkdirSync(join(dir, 'www', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'www', 'a.bin'), new Uint8Array([1, 2, 3, 4, 5]));
  writeFileSync(join(dir, 'www', 'sub', 'index.html'), 'hello');
  writeFileSync(join(dir, 'secret'), 'outside the root');
  server = staticFileServer(join(dir, 'www'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});

test.after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One raw HTTP/1.1 exchange (no client-side path normalisation): status line, headers, body. */
function raw(request: string): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    // Like curl, the client does not half-close: `Connection: close` makes the server end it.
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    let data = '';
    s.setEncoding('latin1').on('data', (c: string) => { data += c; });
    s.on('end', () => {
      const i = data.indexOf('\r\n\r\n');
      resolve({ status: Number(data.slice(9, 12)), headers: data.slice(0, i).toLowerCase(), body: data.slice(i + 4) });
    });
    s.on('error', reject);
  });
}

const get = (path: string, method = 'GET') => raw(`${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

test('GET a file: 200, Content-Length, exact bytes; HEAD: headers only', async () => {
  const r = await get('/a.bin');
  assert.is(r.status, 200);
  assert.match(r.headers, /content-length: 5/);
  assert.equal([...r.body].map((c) => c.charCodeAt(0)), [1, 2, 3, 4, 5]);
  const h = await get('/a.bin', 'HEAD');
  assert.is(h.status, 200);
  assert.match(h.headers, /content-length: 5/);
  assert.is(h.body, '');
});

test('a directory serves its index.html; a missing file is 404', async () => {
  const r = await get('/sub/');
  assert.is(r.status, 200);
  assert.is(r.body, 'hello');
  assert.is((await get('/nope')).status, 404);
});

test('no escape from the root: ../ and %2e%2e are 404', async () => {
  for (const p of ['/../secret', '/sub/../../secret', '/%2e%2e/secret', '/..%2fsecret']) {
    const r = await get(p);
    assert.is(r.status, 404, p);
    assert.not.match(r.body, /outside/, p);
  }
});

test('other methods: 405 with Allow', async () => {
  const r = await raw('POST /a.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  assert.is(r.status, 405);
  assert.match(r.headers, /allow: get, head/);
});

test.run();
