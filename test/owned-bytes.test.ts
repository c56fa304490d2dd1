// Bytes the stack keeps are owned copies, even when a caller hands it Node Buffers (whose
// slice() is a view): after a send or a packet, mutating the caller's memory changes nothing
// in the stack, and the state still passes the plain-data codec (which refuses Buffers).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createStack, defaultStackConfig, stackStep, type StackState } from '../stack/api.ts';
import { encodeState } from '../migrate/codec.ts';
import { copyBytes, plainBytes } from '../stack/wire/bytes.ts';
import { buildIp } from '../stack/wire/ip.ts';
import { createSctpStack, defaultSctpStackConfig, sctpStackStep } from '../stack/sctp/step.ts';
import { sctpIpStep } from '../stack/sctp/ip.ts';

const A = '10.1.0.1', B = '10.1.0.2';

function pair(): { a: StackState; b: StackState; pump: () => void } {
  const a = createStack(defaultStackConfig([A]), new Uint8Array(32).fill(1), 0);
  const b = createStack(defaultStackConfig([B]), new Uint8Array(32).fill(2), 0);
  let qa: Uint8Array[] = [], qb: Uint8Array[] = [];
  const pump = () => {
    for (let i = 0; i < 100 && (qa.length || qb.length); i++) {
      const toB = qa, toA = qb; qa = []; qb = [];
      // Deliver as Buffers, the way a Node link would.
      for (const p of toB) { const r = stackStep(b, { type: 'packet', data: Buffer.from(p) }, 1); qb.push(...r.out); }
      for (const p of toA) { const r = stackStep(a, { type: 'packet', data: Buffer.from(p) }, 1); qa.push(...r.out); }
    }
  };
  const send = (s: StackState, out: Uint8Array[]) => (s === a ? qa.push(...out) : qb.push(...out));
  stackStep(b, { type: 'listen', addr: null, port: 80, backlog: 4 }, 0);
  const c = stackStep(a, { type: 'connect', local: null, localPort: null, remote: B, port: 80 }, 0);
  send(a, c.out);
  pump();
  return { a, b, pump };
}

test('copyBytes and plainBytes give plain Uint8Arrays, copyBytes never aliasing', () => {
  const buf = Buffer.from([1, 2, 3]);
  const c = copyBytes(buf);
  assert.is(c.constructor, Uint8Array);
  buf[0] = 9;
  assert.is(c[0], 1);
  const v = plainBytes(buf);
  assert.is(v.constructor, Uint8Array);
  assert.is(v[0], 9);
});

test('a Buffer given to send and packets given as Buffers leave no Buffer and no alias in state', () => {
  const { a } = pair();
  const id = Object.keys((a as unknown as { tcp: Record<string, unknown> }).tcp)[0]!;
  const data = Buffer.alloc(3000, 7);
  const r = stackStep(a, { type: 'send', id, data }, 2);
  assert.ok(r.result.ok);
  data.fill(0);
  const enc = encodeState(a);
  assert.ok(enc.length > 0);
  // The queued bytes are still 7s although the caller zeroed its buffer.
  const tcb = (a as unknown as { tcp: Record<string, { sndQ: Uint8Array[] }> }).tcp[id]!;
  assert.ok(tcb.sndQ.length > 0);
  for (const chunk of tcb.sndQ) assert.ok(chunk.every((x) => x === 7));
});

test('SCTP: a Buffer given to send and packets given as Buffers leave no Buffer and no alias in state', () => {
  const a = createSctpStack(defaultSctpStackConfig([A]), new Uint8Array(32).fill(3), 0);
  const b = createSctpStack(defaultSctpStackConfig([B]), new Uint8Array(32).fill(4), 0);
  let toB: Uint8Array[] = [], toA: Uint8Array[] = [];
  const ipOut = (o: readonly { src: string; dst: string; sctp: Uint8Array; encap: null | object }[]) => o.map((x) => buildIp(x.src, x.dst, 132, x.sctp));
  sctpStackStep(b, { type: 'listen', port: 7, addresses: null, backlog: 4 }, 0);
  const c = sctpStackStep(a, { type: 'connect', local: null, localPort: null, remote: [B], port: 7 }, 0);
  toB.push(...ipOut(c.out));
  const deliver = (st: typeof a, pkts: Uint8Array[]) => pkts.flatMap((p) => sctpIpStep(st, { type: 'ip', data: Buffer.from(p) }, 1).out);
  for (let i = 0; i < 10 && (toA.length || toB.length); i++) { const nb = deliver(b, toB), na = deliver(a, toA); toA = nb; toB = na; }
  if (!c.result.ok) throw new Error('connect failed');
  const data = Buffer.alloc(3000, 7);
  const r = sctpStackStep(a, { type: 'send', id: c.result.id, data }, 2);
  assert.ok(r.result.ok);
  data.fill(0);
  assert.ok(encodeState(a).length > 0);
  assert.ok(encodeState(b).length > 0);
});

test.run();
