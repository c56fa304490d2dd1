// Reproduction (for the TCP stack, not a test): an echo over the simulator deadlocks.
//   node --import tsx test/net/helpers/repro-echo-stall.ts [seed=5]
// A sends 8 MB and reads everything back; B echoes with backpressure (stops reading while
// its own send is cut short), so B's receive window closes. Link: 1 ms delay, 1% loss.
// With seed 5 the transfer stops for good: A has sent past B's advertised right edge; B,
// at a zero window, drops A's segments (the data retransmission starting at RCV.NXT and the
// pure ACKs whose SEQ is past RCV.NXT) without processing their ACK field, so B never learns
// that A has acknowledged its data, and both sides back off to the maximum RTO.
import type { ConnId } from '../../../stack/api.ts';
import { parseTcp } from '../../../stack/wire/tcp.ts';
import { addSimHost } from '../../../tun/driver.ts';
import { Sim } from '../../../tun/sim.ts';

const seed = Number(process.argv[2] ?? 5), N = 8 << 20;
const sim = new Sim({ seed });
const a = addSimHost(sim, 'a', { addresses: ['10.0.0.1'], secret: new Uint8Array(32).fill(1) });
const b = addSimHost(sim, 'b', { addresses: ['10.0.0.2'], secret: new Uint8Array(32).fill(2) });
sim.addLink('l', 'a:eth0', 'b:eth0', { delayMs: 1, loss: 0.01 });
const trace: string[] = [];
sim.onPacket((ev) => {
  const p = ev.pkt, ihl = (p[0]! & 15) * 4, t = parseTcp(p.subarray(ihl), null);
  if (!t.ok) return;
  const s = t.value;
  trace.push(`${ev.t.toFixed(1)} ${ev.dir === 'ab' ? 'A→B' : 'B→A'} ${ev.fate} seq=${s.seq} ack=${s.ack} wnd=${s.window} len=${s.payload.length}`);
  if (trace.length > 2000) trace.splice(0, 1000);
});
const src = new Uint8Array(N).map((_, i) => i & 0xff);
let sent = 0, back = 0, conn: ConnId | null = null, srv: ConnId | null = null, pending: Uint8Array | null = null;
const fill = () => {
  while (conn && sent < N) { const r = a.call({ type: 'send', id: conn, data: src.subarray(sent, Math.min(N, sent + 65536)) }); if (!r.ok || r.bytes === 0) return; sent += r.bytes; }
};
a.onEvent = (ev) => {
  if (ev.type === 'connected' || ev.type === 'writable') fill();
  if (ev.type === 'readable') for (;;) { const r = a.call({ type: 'recv', id: conn!, max: 1 << 20 }); if (!r.ok || r.data.length === 0) break; back += r.data.length; }
};
const pumpB = () => {
  for (;;) {
    if (pending) {
      const r = b.call({ type: 'send', id: srv!, data: pending });
      if (!r.ok) return;
      pending = r.bytes < pending.length ? pending.subarray(r.bytes) : null;
      if (pending) return;
    }
    const r = b.call({ type: 'recv', id: srv!, max: 65536 });
    if (!r.ok || r.data.length === 0) return;
    pending = r.data;
  }
};
b.onEvent = (ev) => {
  if (ev.type === 'accept-ready') { const r = b.call({ type: 'accept', listener: ev.listener }); if (r.ok) srv = r.id; pumpB(); }
  else if ((ev.type === 'readable' || ev.type === 'writable') && ev.id === srv) pumpB();
};
b.call({ type: 'listen', addr: null, port: 7, backlog: 8 });
const c = a.call({ type: 'connect', local: null, localPort: null, remote: '10.0.0.2', port: 7 });
conn = c.ok ? c.id : null;
const r = sim.run({ stopWhen: () => back >= N, until: 300_000 });
if (back >= N) { console.log(`seed ${seed}: echo completed at ${r.now.toFixed(0)} ms (virtual)`); process.exit(0); }
console.log(`seed ${seed}: STALLED: ${back}/${N} bytes echoed by t=${r.now} ms (virtual)`);
const pick = (i: ReturnType<typeof a.info>) => i && { state: i.state, sndWnd: i.sndWnd, rcvWnd: i.rcvWnd, inFlight: i.bytesInFlight, rto: i.rto, retransmits: i.retransmits, rcvBufUsed: i.rcvBufUsed, rcvBufSize: i.rcvBufSize, sndBufUsed: i.sndBufUsed };
console.log('A', pick(a.info(conn!)));
console.log('B', pick(b.info(srv!)));
console.log('last packets (window field unscaled; both sides use wscale 3):');
console.log(trace.slice(-40).join('\n'));
process.exit(1);
