// A ferry stack as a node of the simulated network (tun/sim.ts): packets in and out through
// stackStep, timers through stackNextDeadline, application calls through `call`, whose
// packets the simulator collects with poll(). Application logic subscribes to AppEvents.
import type { AppEvent, StackConfig, StackEvent, StepResult, ResultOf } from '../stack/api.ts';
import { createStack, stackNextDeadline, stackStep, type StackState } from '../stack/stack.ts';
import type { SimNode, SimOut } from './sim.ts';

export type AppHandler = (ev: AppEvent, node: StackNode, now: number) => void;

export class StackNode implements SimNode {
  state: StackState;
  private queued: Uint8Array[] = [];
  private handlers: AppHandler[] = [];
  /** Events delivered while a handler was running are queued and dispatched in order. */
  private evQueue: AppEvent[] = [];
  private dispatching = false;
  now = 0;

  constructor(config: StackConfig, secret: Uint8Array, now = 0) {
    this.state = createStack(config, secret, now);
    this.now = now;
  }

  /** Subscribe to application events. */
  on(h: AppHandler): this { this.handlers.push(h); return this; }

  /** Run one stack step; packets go out at the next poll (or with the current receive/tick). */
  call<E extends StackEvent>(ev: E, now = this.now): ResultOf<E> {
    const r = this.run(ev, now);
    return r.result;
  }

  private run<E extends StackEvent>(ev: E, now: number): StepResult<ResultOf<E>> {
    this.now = now;
    const r = stackStep(this.state, ev, now);
    for (const p of r.out) this.queued.push(p);
    if (r.events.length > 0) this.dispatch(r.events);
    return r;
  }

  private dispatch(evs: AppEvent[]): void {
    for (const e of evs) this.evQueue.push(e);
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.evQueue.length > 0) {
        const e = this.evQueue.shift()!;
        for (const h of this.handlers) h(e, this, this.now);
      }
    } finally {
      this.dispatching = false;
    }
  }

  private take(): SimOut[] {
    const q = this.queued;
    this.queued = [];
    return q;
  }

  receive(pkt: Uint8Array, now: number): readonly SimOut[] {
    this.run({ type: 'packet', data: pkt }, now);
    return this.take();
  }

  tick(now: number): readonly SimOut[] {
    this.run({ type: 'tick' }, now);
    return this.take();
  }

  nextDeadline(): number | null {
    return stackNextDeadline(this.state);
  }

  poll(now: number): readonly SimOut[] {
    this.now = now;
    return this.take();
  }
}
