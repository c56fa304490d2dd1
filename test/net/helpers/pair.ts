// Two Hosts in one process over an in-memory link, plus small async helpers that wait on
// events with a deadline (a test never sleeps; a missing event fails it).
//
// FERRY_NET_FAKE=1 swaps the real stack for test/net/helpers/fake-stack.ts, to tell a bug in
// the socket layer from one in the TCP stack. The fake has no timers, no TIME-WAIT and no
// IPv6, so the tests that need those (timer, ETIMEDOUT, lossy link, TIME-WAIT delivery) fail
// under it by design.

import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { HostConfig, StackEngine } from '../../../tun/driver.ts';
import { Host } from '../../../tun/driver.ts';
import { type MemLinkOptions, memLinkPair } from '../../../tun/memlink.ts';
import { nextU32, prngInit } from '../../../tun/prng.ts';
import { fakeConnInfo, fakeCreateStack, fakeNextDeadline, fakeStep } from './fake-stack.ts';

export const A = '10.9.0.1', B = '10.9.0.2';

const FAKE = process.env.FERRY_NET_FAKE === '1'
  ? ({ createStack: fakeCreateStack, stackStep: fakeStep, stackNextDeadline: fakeNextDeadline, connInfo: fakeConnInfo } as unknown as StackEngine)
  : undefined;

export interface Pair { a: Host; b: Host; close(): void }

/** Hosts a (10.9.0.1) and b (10.9.0.2) joined by a memlink pair. */
export function hostPair(config: HostConfig = {}, link: MemLinkOptions = {}, addrs: [string, string] = [A, B]): Pair {
  const [la, lb] = memLinkPair(link);
  const secret = (n: number) => new Uint8Array(32).fill(n);
  const a = new Host({ addresses: [addrs[0]], config, link: la, secret: secret(1), engine: FAKE });
  const b = new Host({ addresses: [addrs[1]], config, link: lb, secret: secret(2), engine: FAKE });
  return { a, b, close: () => { a.close(); b.close(); } };
}

/** Resolve with the event's arguments, or reject after `ms` (the test fails, naming the event). */
export function waitFor<T extends unknown[] = unknown[]>(em: EventEmitter, event: string, ms = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => { em.removeListener(event, on); reject(new Error(`timed out after ${ms} ms waiting for '${event}'`)); }, ms);
    const on = (...args: unknown[]) => { clearTimeout(t); resolve(args as T); };
    em.once(event, on);
  });
}

/** Resolve once the stream has emitted 'close' (at once if it already has). */
export function closed(s: EventEmitter & { closed: boolean }, ms = 5000): Promise<unknown> {
  return s.closed ? Promise.resolve() : waitFor(s, 'close', ms);
}

/** Reject after `ms` unless `p` settles first. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/** Poll `cond` on every event-loop turn until it holds, or reject after `ms`. */
export function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  return within(new Promise<void>((resolve) => {
    const check = () => (cond() ? resolve() : setImmediate(check));
    check();
  }), ms, what);
}

/** `n` deterministic pseudo-random bytes from `seed`. */
export function pseudoRandom(n: number, seed = 1): Uint8Array {
  const st = prngInit(seed);
  const out = new Uint8Array(n);
  const dv = new DataView(out.buffer);
  let i = 0;
  for (; i + 4 <= n; i += 4) dv.setUint32(i, nextU32(st));
  for (; i < n; i++) out[i] = nextU32(st) & 0xff;
  return out;
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Collect a readable stream until 'end' (or reject on 'error' / after `ms`). */
export function readAll(s: NodeJS.ReadableStream & EventEmitter, ms = 10_000): Promise<Uint8Array> {
  return within(new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.once('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    s.once('error', reject);
  }), ms, 'stream end');
}
