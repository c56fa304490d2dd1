// IP addresses as canonical text: plain data that works as a record key and survives
// the snapshot codec unchanged. Conversions to and from wire bytes live here.

/** An IPv4 address in dotted-quad ("10.0.0.1") or an IPv6 address in RFC 5952 form ("fe80::1"). */
export type IpAddr = string;

/** True when `a` is an IPv6 address (text form). */
export const isV6 = (a: IpAddr): boolean => a.includes(':');

/** IPv4 text from 4 bytes at `off`. */
export function v4ToString(b: Uint8Array, off = 0): IpAddr {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** IPv6 text (RFC 5952: lower case, longest zero run of two or more words compressed) from 16 bytes at `off`. */
export function v6ToString(b: Uint8Array, off = 0): IpAddr {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(w);
  return `${hex(w.slice(0, bestStart))}::${hex(w.slice(bestStart + bestLen))}`;
}

/** Parse IPv4 text; null if malformed. */
export function parseV4(s: string): Uint8Array | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const n = Number(m[i + 1]);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

/** Parse IPv6 text (with optional embedded IPv4 tail); null if malformed. */
export function parseV6(s: string): Uint8Array | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
  const parts = s.split('::');
  if (parts.length > 2) return null;
  const words = (p: string, mayEndInV4: boolean): number[] | null => {
    if (p === '') return [];
    const out: number[] = [];
    const segs = p.split(':');
    for (let i = 0; i < segs.length; i++) {
      const g = segs[i]!;
      if (g.includes('.')) {
        // RFC 4291 §2.2: a dotted quad only as the last 32 bits of the address.
        if (!mayEndInV4 || i !== segs.length - 1) return null;
        const v4 = parseV4(g);
        if (!v4) return null;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const head = words(parts[0]!, parts.length === 1);
  const tail = parts.length === 2 ? words(parts[1]!, true) : [];
  if (!head || !tail) return null;
  const fill = 8 - head.length - tail.length;
  if (parts.length === 1 ? fill !== 0 : fill < 1) return null;
  const all = [...head, ...new Array<number>(parts.length === 2 ? fill : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((x, i) => { out[2 * i] = x >> 8; out[2 * i + 1] = x & 0xff; });
  return out;
}

/** Wire bytes of an address (4 or 16); null if malformed. */
export function ipToBytes(a: IpAddr): Uint8Array | null {
  return isV6(a) ? parseV6(a) : parseV4(a);
}

/** Canonical text of an address given as text; null if malformed. */
export function canonicalIp(a: string): IpAddr | null {
  const b = ipToBytes(a);
  if (!b) return null;
  return b.length === 4 ? v4ToString(b) : v6ToString(b);
}
