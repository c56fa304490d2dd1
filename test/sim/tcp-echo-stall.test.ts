// An echo over a lossy simulated link must never deadlock at closed windows. A sends N bytes and
// reads everything back; B echoes with backpressure (it stops reading while its own send is cut
// short), so both receive windows close again and again. Seed 5 used to stop for good: A sent
// past B's window, B at RCV.WND = 0 dropped A's segments without reading their ACKs, and both
// sides backed off to the maximum RTO (test/tcp/zero-window.test.ts has the three bugs one by one).
// FERRY_ECHO_SEEDS (default 8) seeds of FERRY_ECHO_BYTES (default 8 MiB) each.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ConnId } from '../../stack/api.ts';
import { addSimHost } from '../../tun/driver.ts';
import { Sim } from '../../tun/sim.ts';

const SEEDS = Number(process.env.FERRY_ECHO_SEEDS ?? 8);
const N = Number(process.env.FERRY_ECHO_BYTES ?? 8 << 20);

interface EchoResult { echoed: number; now: number; same: boolean }

function echo(seed: number, n: number): EchoResult {
  const sim = new Sim({ seed });
  const a = addSimHost(sim, 'a', { addresses: ['10.0.0.1'], secret: new Uint8Array(32).fill(1) });
  const b = addSimHost(sim, 'b', { addresses: ['10.0.0.2'], secret: new Uint8Array(32).fill(2) });
  sim.addLink('l', 'a:eth0', 'b:eth0', { delayMs: 1, loss: 0.01 });
  const src = new Uint8Array(n).map((_, i) => (i * 7 + (i >> 8)) & 0xff);
  let sent = 0, back = 0, same = true;
  let conn: ConnId | null = null, srv: ConnId | null = null, pending: Uint8Array | null = null;
  const fill = () => {
    while (conn !== null && sent < n) {
      const r = a.call({ type: 'send', id: conn, data: src.subarray(sent, Math.min(n, sent + 65536)) });
      if (!r.ok || r.bytes === 0) return;
      sent += r.bytes;
    }
  };
  a.onEvent = (ev) => {
    if (ev.type === 'connected' || ev.type === 'writable') fill();
    if (ev.type === 'readable' && conn !== null) {
      for (;;) {
        const r = a.call({ type: 'recv', id: conn, max: 1 << 20 });
        if (!r.ok || r.data.length === 0) break;
        for (let i = 0; i < r.data.length && same; i++) if (r.data[i] !== src[back + i]) same = false;
        back += r.data.length;
      }
    }
  };
  const pumpB = () => {
    for (;;) {
      if (srv === null) return;
      if (pending !== null) {
        const r = b.call({ type: 'send', id: srv, data: pending });
        if (!r.ok) return;
        pending = r.bytes < pending.length ? pending.subarray(r.bytes) : null;
        if (pending !== null) return;
      }
      const r = b.call({ type: 'recv', id: srv, max: 65536 });
      if (!r.ok || r.data.length === 0) return;
      pending = r.data;
    }
  };
  b.onEvent = (ev) => {
    if (ev.type === 'accept-ready') {
      const r = b.call({ type: 'accept', listener: ev.listener });
      if (r.ok) srv = r.id;
      pumpB();
    } else if ((ev.type === 'readable' || ev.type === 'writable') && ev.id === srv) pumpB();
  };
  b.call({ type: 'listen', addr: null, port: 7, backlog: 8 });
  const c = a.call({ type: 'connect', local: null, localPort: null, remote: '10.0.0.2', port: 7 });
  conn = c.ok ? c.id : null;
  const r = sim.run({ stopWhen: () => back >= n, until: 120_000 });
  return { echoed: back, now: r.now, same };
}

for (let seed = 1; seed <= SEEDS; seed++) {
  test(`echo seed ${seed}: ${N >> 20} MiB round trip over 1% loss with both windows closing, no stall`, () => {
    const r = echo(seed, N);
    assert.is(r.echoed, N, `echoed ${r.echoed} of ${N} bytes by t=${r.now} ms (virtual)`);
    assert.ok(r.same, 'echoed bytes differ from what was sent');
    // A healthy run takes about a second of virtual time; a stall backs off towards the 120 s maximum RTO.
    assert.ok(r.now < 20_000, `took ${r.now} ms of virtual time`);
  });
}

test.run();
