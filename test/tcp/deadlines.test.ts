// The stack's deadline index (stack/deadlines.ts): nextDeadline and tick without walking every
// connection. Checked against a model, then on real stacks: the index always agrees with the
// TCBs' own deadlines, survives the codec and rebaseStack, and stays small under load.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ConnId, StackEvent } from '../../stack/api.ts';
import { newDeadlineIndex, peekDeadline, prune, schedule, takeDue, unschedule } from '../../stack/deadlines.ts';
import { createStack, defaultStackConfig, rebaseStack, stackNextDeadline, stackStep, type StackState } from '../../stack/stack.ts';
import { nextU32, prngInit } from '../../tun/prng.ts';
import { decodeState, encodeState } from '../../migrate/codec.ts';

test('deadline index: random schedule/remove/fire agrees with a model', () => {
  const r = prngInit(42);
  const ix = newDeadlineIndex();
  const model: Record<ConnId, { deadline: number | null }> = {};
  let now = 0;
  const min = () => {
    let m: number | null = null;
    for (const id in model) { const d = model[id]!.deadline; if (d !== null && (m === null || d < m)) m = d; }
    return m;
  };
  for (let step = 0; step < 20000; step++) {
    const op = nextU32(r) % 10;
    const id = `c${nextU32(r) % 64}`;
    if (op < 6) {
      // A connection's timers changed: a deadline in the near future, later, or none.
      const d = nextU32(r) % 5 === 0 ? null : now + 1 + (nextU32(r) % 500);
      model[id] = { deadline: d };
      schedule(ix, id, d);
    } else if (op < 7) {
      if (model[id] !== undefined) { delete model[id]; unschedule(ix, id); }
    } else {
      // Time passes; every due connection fires and re-arms (or not).
      now += nextU32(r) % 100;
      const due = takeDue(ix, now);
      const want = Object.keys(model).filter((k) => model[k]!.deadline !== null && model[k]!.deadline! <= now).sort();
      const fired = due.filter((k) => model[k] !== undefined && model[k]!.deadline !== null && model[k]!.deadline! <= now).sort();
      assert.equal(fired, want, `step ${step}: connections due at ${now}`);
      for (const k of due) {
        const t = model[k];
        if (t === undefined) continue;
        if (t.deadline !== null && t.deadline <= now) t.deadline = nextU32(r) % 3 === 0 ? null : now + 1 + (nextU32(r) % 300);
        schedule(ix, k, t.deadline);
      }
    }
    prune(ix, model);
    assert.is(peekDeadline(ix), min(), `step ${step}: next deadline`);
  }
  assert.ok(ix.at.length <= 64 + 1100, `heap holds ${ix.at.length} entries for 64 connections`);
});

/** Two in-process stacks joined by a lossless, instant link. */
class Pair {
  now = 0;
  a: StackState;
  b: StackState;
  q: [StackState, Uint8Array][] = [];
  constructor(ka: boolean) {
    const mk = (addr: string, s: number) => {
      const c = defaultStackConfig([addr]);
      c.tcp = { ...c.tcp, keepAlive: { ...c.tcp.keepAlive, enabled: ka } };
      return createStack(c, new Uint8Array(32).fill(s), 0);
    };
    this.a = mk('10.0.0.1', 1);
    this.b = mk('10.0.0.2', 2);
  }
  step<E extends StackEvent>(st: StackState, ev: E) {
    const r = stackStep(st, ev, this.now);
    for (const p of r.out) this.q.push([st === this.a ? this.b : this.a, p]);
    return r;
  }
  pump(): void {
    while (this.q.length > 0) { const [st, p] = this.q.shift()!; this.step(st, { type: 'packet', data: p }); }
  }
}

const minDeadline = (st: StackState): number | null => {
  let m: number | null = null;
  for (const id in st.tcp) { const d = st.tcp[id]!.deadline; if (d !== null && (m === null || d < m)) m = d; }
  return m;
};

test('stack: nextDeadline is the earliest TCB deadline; each tick fires only the due connections', () => {
  const p = new Pair(true);
  p.step(p.a, { type: 'listen', addr: null, port: 80, backlog: 500 });
  for (let i = 0; i < 200; i++) {
    p.now = i;
    // Keepalive idle times spread out, so the connections come due one by one.
    p.step(p.b, { type: 'connect', local: null, localPort: 2000 + i, remote: '10.0.0.1', port: 80, options: { keepAlive: { enabled: true, idle: 5000 + 37 * ((i * 7) % 200), interval: 1000, count: 3 } } });
    p.pump();
    assert.ok(p.step(p.a, { type: 'accept', listener: '*|80' }).result.ok);
  }
  assert.is(stackNextDeadline(p.b), minDeadline(p.b));
  let probes = 0;
  for (let k = 0; k < 400; k++) {
    const d = stackNextDeadline(p.b);
    assert.is(d, minDeadline(p.b), `tick ${k}`);
    if (d === null) break;
    p.now = d;
    const due = Object.values(p.b.tcp).filter((t) => t.deadline !== null && t.deadline <= d).length;
    const r = p.step(p.b, { type: 'tick' });
    // Every due connection sends exactly one keepalive probe (its peer answers after the tick).
    assert.is(r.out.length, due);
    probes += r.out.length;
    p.pump();
  }
  assert.ok(probes >= 200, `${probes} keepalive probes`);
});

test('stack: the index survives the codec and rebaseStack', () => {
  const p = new Pair(true);
  p.step(p.a, { type: 'listen', addr: null, port: 80, backlog: 50 });
  for (let i = 0; i < 20; i++) {
    p.now = i * 10;
    p.step(p.b, { type: 'connect', local: null, localPort: 3000 + i, remote: '10.0.0.1', port: 80 });
    p.pump();
  }
  const copy = decodeState(encodeState(p.b)) as StackState;
  assert.equal(copy, p.b as unknown);
  assert.is(stackNextDeadline(copy), minDeadline(p.b));
  rebaseStack(copy, 123_456);
  assert.is(stackNextDeadline(copy), minDeadline(p.b)! + 123_456);
  assert.is(stackNextDeadline(copy), minDeadline(copy));
  // Ticking the rebased copy at the old time fires nothing; at the shifted time it fires.
  assert.is(stackStep(copy, { type: 'tick' }, minDeadline(p.b)!).out.length, 0);
  assert.ok(stackStep(copy, { type: 'tick' }, minDeadline(copy)!).out.length > 0);
});

test('stack: a busy transfer keeps the index small (deadlines moving later are not re-filed per ACK)', () => {
  const p = new Pair(false);
  p.step(p.a, { type: 'listen', addr: null, port: 80, backlog: 5 });
  const c = p.step(p.b, { type: 'connect', local: null, localPort: 4000, remote: '10.0.0.1', port: 80 }).result;
  p.pump();
  const s = p.step(p.a, { type: 'accept', listener: '*|80' }).result;
  if (!c.ok || !s.ok || s.id === null) throw new Error('no connection');
  const id = c.id, srv = s.id;
  let maxHeap = 0;
  for (let i = 0; i < 300; i++) {
    p.now += 1;
    p.step(p.b, { type: 'send', id, data: new Uint8Array(20000) });
    p.pump();
    p.step(p.a, { type: 'recv', id: srv, max: 1 << 20 });
    p.pump();
    maxHeap = Math.max(maxHeap, p.a.deadlines.at.length, p.b.deadlines.at.length);
  }
  assert.is(p.a.tcp[srv]!.bytesRead, 300 * 20000, 'every byte arrived');
  assert.ok(maxHeap <= 8, `heap grew to ${maxHeap} entries for one connection`);
});

test.run();
