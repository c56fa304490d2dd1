// A kernel-side client for the HA tests and benchmark, run inside the lab's client namespace:
//   ip netns exec C node --import tsx test/ha/client.ts '<json options>'
// It opens `idle` connections to the counter service (port 7000) and `transfers` downloads of
// /bytes/<n> from the http service (port 80, read at `rate` bytes/s each), and reports JSON
// lines on stdout. Commands on stdin: `check` (every idle connection sends a line and must get
// the next count back), `finish` (wait for the downloads, verify every byte, report, exit).
// It records the longest gap between arrivals on any transfer ("the longest stall a client
// saw") and every error with the time it happened.
import net from 'node:net';
import { createInterface } from 'node:readline';
import { patternBytes } from '../../migrate/services/http.ts';

interface Opts { host: string; idle: number; transfers: number; bytes: number; rate: number; counterPort?: number; httpPort?: number; connectGapMs?: number }
const o = JSON.parse(process.argv[2] ?? '{}') as Opts;
const counterPort = o.counterPort ?? 7000, httpPort = o.httpPort ?? 80;
const t0 = performance.now();
const now = (): number => performance.now() - t0;
const say = (x: Record<string, unknown>): void => { process.stdout.write(`${JSON.stringify(x)}\n`); };
const errors: { t: number; conn: string; error: string }[] = [];

interface Idle { sock: net.Socket; buf: string; count: number; pending: ((line: string) => void) | null; closed: boolean }
const idle: Idle[] = [];

function openIdle(i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const c: Idle = { sock: net.connect({ host: o.host, port: counterPort }), buf: '', count: 0, pending: null, closed: false };
    c.sock.setEncoding('latin1');
    c.sock.on('data', (d: string) => {
      c.buf += d;
      let k;
      while ((k = c.buf.indexOf('\n')) >= 0) {
        const line = c.buf.slice(0, k);
        c.buf = c.buf.slice(k + 1);
        const p = c.pending;
        c.pending = null;
        p?.(line);
      }
    });
    c.sock.on('error', (e) => { errors.push({ t: now(), conn: `idle ${i}`, error: e.message }); c.closed = true; reject(e); });
    c.sock.on('close', () => { c.closed = true; });
    c.sock.once('connect', () => { idle.push(c); resolve(); });
  });
}

/** Send a line, expect "<count+1> <line>". */
function ask(c: Idle, text: string, timeoutMs = 10_000): Promise<boolean> {
  return new Promise((resolve) => {
    if (c.closed) { resolve(false); return; }
    const t = setTimeout(() => { c.pending = null; resolve(false); }, timeoutMs);
    c.pending = (line) => {
      clearTimeout(t);
      const want = `${c.count + 1} ${text}`;
      if (line === want) { c.count++; resolve(true); } else { errors.push({ t: now(), conn: 'idle', error: `got "${line}", want "${want}"` }); resolve(false); }
    };
    c.sock.write(`${text}\n`);
  });
}

interface Transfer { got: number; ok: boolean; done: boolean; maxGapMs: number; error: string | null; status: string }
const transfers: Transfer[] = [];

function startTransfer(i: number): Promise<void> {
  const tr: Transfer = { got: 0, ok: true, done: false, maxGapMs: 0, error: null, status: '' };
  transfers.push(tr);
  return new Promise((resolve) => {
    const s = net.connect({ host: o.host, port: httpPort });
    let head = '', inBody = false, last = 0, budget = 0;
    const tick = setInterval(() => { budget = o.rate / 20; if (s.isPaused()) s.resume(); }, 50);
    s.on('connect', () => { s.write(`GET /bytes/${o.bytes} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`); resolve(); });
    s.on('data', (d: Buffer) => {
      const t = now();
      if (inBody && last > 0) tr.maxGapMs = Math.max(tr.maxGapMs, t - last);
      last = t;
      let body = d;
      if (!inBody) {
        head += d.toString('latin1');
        const k = head.indexOf('\r\n\r\n');
        if (k < 0) return;
        tr.status = head.slice(0, head.indexOf('\r\n'));
        const hlen = Buffer.byteLength(head.slice(0, k + 4), 'latin1');
        body = d.subarray(d.length - (Buffer.byteLength(head, 'latin1') - hlen));
        inBody = true;
      }
      if (body.length > 0) {
        const want = patternBytes(tr.got, body.length);
        if (tr.ok && Buffer.compare(Buffer.from(want.buffer, want.byteOffset, want.length), body) !== 0) { tr.ok = false; tr.error = `bytes differ near offset ${tr.got}`; }
        tr.got += body.length;
      }
      budget -= d.length;
      if (budget <= 0) s.pause();
    });
    s.on('error', (e) => { tr.error = e.message; errors.push({ t: now(), conn: `transfer ${i}`, error: e.message }); });
    s.on('close', () => { clearInterval(tick); tr.done = true; if (tr.got !== o.bytes && tr.error === null) tr.error = `closed at ${tr.got} of ${o.bytes}`; });
  });
}

async function main(): Promise<void> {
  const gap = o.connectGapMs ?? 0;
  for (let i = 0; i < o.idle; i++) {
    await openIdle(i).catch(() => {});
    if (gap > 0) await new Promise((r) => setTimeout(r, gap));
  }
  const firstOk = (await Promise.all(idle.map((c) => ask(c, 'hello')))).filter(Boolean).length;
  for (let i = 0; i < o.transfers; i++) await startTransfer(i);
  say({ ev: 'ready', idle: idle.length, answered: firstOk, transfers: transfers.length, t: now() });
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (line === 'check') {
      const t = now();
      const ok = (await Promise.all(idle.map((c) => ask(c, 'again')))).filter(Boolean).length;
      say({ ev: 'checked', ok, of: idle.length, counts: [...new Set(idle.map((c) => c.count))], ms: now() - t });
    } else if (line === 'finish') {
      while (transfers.some((t) => !t.done)) await new Promise((r) => setTimeout(r, 20));
      say({
        ev: 'done', transfers: transfers.map((t) => ({ got: t.got, ok: t.ok && t.got === o.bytes, error: t.error, maxGapMs: Math.round(t.maxGapMs), status: t.status })),
        maxGapMs: Math.round(Math.max(0, ...transfers.map((t) => t.maxGapMs))), errors,
      });
      for (const c of idle) c.sock.destroy();
      process.exit(0);
    } else if (line.startsWith('connect ')) {
      // Open n more counter connections now (retrying refused/unreachable ones for up to 5 s):
      // how soon a new client is served.
      const n = Number(line.slice(8)), t = now(), before = idle.length;
      const fresh: Idle[] = [];
      for (let i = 0; i < n; i++) {
        for (;;) {
          const ok = await openIdle(before + i).then(() => true, () => false);
          if (ok) { fresh.push(idle[idle.length - 1]!); break; }
          if (now() - t > 5000) break;
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      const answered = (await Promise.all(fresh.map((c) => ask(c, 'hello')))).filter(Boolean).length;
      say({ ev: 'connected', answered, ms: now() - t });
    } else if (line === 'errors') {
      say({ ev: 'errors', errors, closed: idle.filter((c) => c.closed).length });
    }
  }
}

main().catch((e: Error) => { say({ ev: 'fatal', error: e.message }); process.exit(1); });
