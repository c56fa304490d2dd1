// Longest-prefix-match routing on a raw IP packet's destination address, for the simulated
// network: per-node egress choice (Sim.addRoute) and the Router node (sim-nodes.ts).

import { ipToBytes } from '../stack/wire/addr.ts';

interface Route { readonly cidr: string; readonly v6: boolean; readonly addr: Uint8Array; readonly bits: number; iface: string }

/** Parse 'a.b.c.d/n', 'x::y/n' or a bare address (a host route); throws on malformed input. */
function parseCidr(cidr: string): { v6: boolean; addr: Uint8Array; bits: number } {
  const slash = cidr.indexOf('/');
  const text = slash < 0 ? cidr : cidr.slice(0, slash);
  const addr = ipToBytes(text);
  if (!addr) throw new Error(`route: bad address in '${cidr}'`);
  const max = addr.length * 8;
  const bits = slash < 0 ? max : Number(cidr.slice(slash + 1));
  if (!Number.isInteger(bits) || bits < 0 || bits > max || (slash >= 0 && cidr.slice(slash + 1) === '')) {
    throw new Error(`route: bad prefix length in '${cidr}'`);
  }
  return { v6: addr.length === 16, addr, bits };
}

/** True when the first `bits` bits of `a` (4 or 16 bytes) equal those of `pkt` at `off`. */
function prefixMatch(a: Uint8Array, pkt: Uint8Array, off: number, bits: number): boolean {
  const whole = bits >>> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== pkt[off + i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole]! ^ pkt[off + whole]!) & mask) === 0;
}

/** A small routing table: (prefix → interface name), longest prefix wins. */
export class RouteTable {
  private routes: Route[] = [];

  /** Add or replace (same prefix, like `ip route replace`) the route for `cidr`. */
  set(cidr: string, iface: string): void {
    const p = parseCidr(cidr);
    const same = this.routes.find((r) => r.v6 === p.v6 && r.bits === p.bits && prefixMatch(r.addr, p.addr, 0, p.bits));
    if (same) { same.iface = iface; return; }
    this.routes.push({ cidr, ...p, iface });
  }

  /** Remove the route for exactly this prefix; returns whether one existed. */
  delete(cidr: string): boolean {
    const p = parseCidr(cidr);
    const i = this.routes.findIndex((r) => r.v6 === p.v6 && r.bits === p.bits && prefixMatch(r.addr, p.addr, 0, p.bits));
    if (i < 0) return false;
    this.routes.splice(i, 1);
    return true;
  }

  /** Interface for a raw IPv4/IPv6 packet's destination, or null (no route, or not an IP packet). */
  lookup(pkt: Uint8Array): string | null {
    if (pkt.length < 1) return null;
    const version = pkt[0]! >>> 4;
    let v6: boolean, off: number;
    if (version === 4 && pkt.length >= 20) { v6 = false; off = 16; }      // RFC 791 §3.1: destination at byte 16
    else if (version === 6 && pkt.length >= 40) { v6 = true; off = 24; }  // RFC 8200 §3: destination at byte 24
    else return null;
    let best: Route | null = null;
    for (const r of this.routes) {
      if (r.v6 !== v6 || (best !== null && r.bits <= best.bits)) continue;
      if (prefixMatch(r.addr, pkt, off, r.bits)) best = r;
    }
    return best === null ? null : best.iface;
  }

  /** The routes as [cidr, iface] pairs, in insertion order. */
  entries(): [string, string][] {
    return this.routes.map((r) => [r.cidr, r.iface]);
  }
}
