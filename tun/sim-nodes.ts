// Helper nodes for the simulated network: a Router (forwards by destination address, routes
// changeable at run time, e.g. to move a service address from one host to another) and a Hub
// (floods every packet to all its other interfaces, so several nodes share one segment).

import type { SimNode, SimOut } from './sim.ts';
import { RouteTable } from './sim-route.ts';

/**
 * Forwards each packet out of the interface its longest matching route names (possibly the one
 * it came in on). No TTL decrement or ICMP: it is a programmable wire, not an IP router.
 * Packets without a route are dropped and counted in `noRoute`.
 */
export class Router implements SimNode {
  /** The forwarding table; change it at any time (`router.routes.set('10.0.0.10', 'p2')`). */
  readonly routes = new RouteTable();
  /** Packets dropped for want of a route. */
  noRoute = 0;
  /** Packets forwarded. */
  forwarded = 0;

  /** `routes`: [cidr, iface] pairs, e.g. [['10.0.1.0/24', 'p1'], ['0.0.0.0/0', 'up']]. */
  constructor(routes: readonly (readonly [string, string])[] = []) {
    for (const [cidr, iface] of routes) this.routes.set(cidr, iface);
  }

  receive(pkt: Uint8Array, _now: number, _iface: string): SimOut[] {
    const out = this.routes.lookup(pkt);
    if (out === null) { this.noRoute++; return []; }
    this.forwarded++;
    return [{ iface: out, pkt }];
  }

  tick(_now: number): SimOut[] { return []; }
  nextDeadline(): number | null { return null; }
}

/** Repeats every packet out of all its interfaces except the one it arrived on (each receiver gets its own copy). */
export class Hub implements SimNode {
  private readonly ports: readonly string[];

  /** `ports`: the interface names the hub's links attach to. */
  constructor(ports: readonly string[]) {
    this.ports = [...ports];
  }

  receive(pkt: Uint8Array, _now: number, iface: string): SimOut[] {
    const out: SimOut[] = [];
    let first = true;
    for (const p of this.ports) {
      if (p === iface) continue;
      out.push({ iface: p, pkt: first ? pkt : pkt.slice() });
      first = false;
    }
    return out;
  }

  tick(_now: number): SimOut[] { return []; }
  nextDeadline(): number | null { return null; }
}
