// TCP options (RFC 9293 §3.2; RFC 7323 window scale and timestamps; RFC 2018 SACK):
// parse/emit of the option list in wire order, a summary for the endpoint, and a builder
// that lays options out the way Linux does.
import type { SackBlock, TcpOption } from './tcp.ts';

/** Option kinds (IANA "TCP Option Kind Numbers"). */
export const TCPOPT_EOL = 0, TCPOPT_NOP = 1, TCPOPT_MSS = 2, TCPOPT_WSCALE = 3,
  TCPOPT_SACK_PERMITTED = 4, TCPOPT_SACK = 5, TCPOPT_TIMESTAMP = 8;

/** Most option bytes a header can carry: data offset 15 words minus the 20-byte fixed header (RFC 9293 §3.1). */
export const TCP_MAX_OPTIONS_LEN = 40;

/**
 * Parse the option bytes `b[start..end)`. Returns null for a malformed list: an option whose
 * length byte is missing, < 2 or runs past `end`.
 *
 * RFC 9293 §3.2 MUST-7 requires robustness against illegal option lengths and suggests
 * resetting the connection. We reject the whole segment (the caller reports 'bad-option' and
 * the segment is dropped as if corrupt), as smoltcp does; Linux (tcp_parse_options) instead
 * stops parsing and keeps the options before the bad one. Dropping keeps emit(parse(p)) == p
 * exact and never lets a half-understood header drive the state machine; a conforming sender
 * never produces such a list.
 *
 * Options of a known kind with the wrong fixed length (e.g. MSS with len != 4) are kept as
 * `unknown` rather than misread. After EOL everything up to `end` is padding (RFC 9293 §3.1:
 * "composed of zeros"); non-zero padding bytes are accepted and re-emitted as zeros.
 */
export function parseTcpOptions(b: Uint8Array, dv: DataView, start: number, end: number): TcpOption[] | null {
  const opts: TcpOption[] = [];
  let i = start;
  while (i < end) {
    const kind = b[i]!;
    if (kind === TCPOPT_EOL) { opts.push({ kind: 'eol', pad: end - i - 1 }); break; }
    if (kind === TCPOPT_NOP) { opts.push({ kind: 'nop' }); i++; continue; }
    // RFC 9293 §3.2: every other option has a length byte counting kind and length.
    if (i + 1 >= end) return null;
    const len = b[i + 1]!;
    if (len < 2 || i + len > end) return null;
    switch (kind) {
      case TCPOPT_MSS:
        if (len === 4) { opts.push({ kind: 'mss', mss: dv.getUint16(i + 2) }); i += len; continue; }
        break;
      case TCPOPT_WSCALE:
        if (len === 3) { opts.push({ kind: 'wscale', shift: b[i + 2]! }); i += len; continue; }
        break;
      case TCPOPT_SACK_PERMITTED:
        if (len === 2) { opts.push({ kind: 'sack-permitted' }); i += len; continue; }
        break;
      case TCPOPT_SACK:
        // RFC 2018 §3: length 8n+2; like Linux we require at least one block.
        if (len >= 10 && (len - 2) % 8 === 0) {
          const blocks: SackBlock[] = [];
          for (let j = i + 2; j < i + len; j += 8) blocks.push({ left: dv.getUint32(j), right: dv.getUint32(j + 4) });
          opts.push({ kind: 'sack', blocks });
          i += len;
          continue;
        }
        break;
      case TCPOPT_TIMESTAMP:
        if (len === 10) { opts.push({ kind: 'timestamp', tsval: dv.getUint32(i + 2), tsecr: dv.getUint32(i + 6) }); i += len; continue; }
        break;
    }
    // RFC 9293 §3.2 MUST-6: options we do not implement are skipped by their length (kept verbatim).
    opts.push({ kind: 'unknown', type: kind, data: b.slice(i + 2, i + len) });
    i += len;
  }
  return opts;
}

/** Wire size of one option. */
export function tcpOptionLen(o: TcpOption): number {
  switch (o.kind) {
    case 'eol': return 1 + o.pad;
    case 'nop': return 1;
    case 'mss': return 4;
    case 'wscale': return 3;
    case 'sack-permitted': return 2;
    case 'sack': return 2 + 8 * o.blocks.length;
    case 'timestamp': return 10;
    case 'unknown': return 2 + o.data.length;
  }
}

/** Total wire size of an option list, before padding to 4 bytes. */
export function tcpOptionsLen(opts: readonly TcpOption[]): number {
  let n = 0;
  for (let k = 0; k < opts.length; k++) n += tcpOptionLen(opts[k]!);
  return n;
}

/** Write `opts` at `out[off..]`; returns the offset after the last option byte (no padding). */
export function emitTcpOptions(opts: readonly TcpOption[], out: Uint8Array, dv: DataView, off: number): number {
  let i = off;
  for (let k = 0; k < opts.length; k++) {
    const o = opts[k]!;
    switch (o.kind) {
      case 'eol':
        out[i++] = TCPOPT_EOL;
        out.fill(0, i, i + o.pad);
        i += o.pad;
        break;
      case 'nop':
        out[i++] = TCPOPT_NOP;
        break;
      case 'mss':
        out[i] = TCPOPT_MSS; out[i + 1] = 4; dv.setUint16(i + 2, o.mss);
        i += 4;
        break;
      case 'wscale':
        out[i] = TCPOPT_WSCALE; out[i + 1] = 3; out[i + 2] = o.shift;
        i += 3;
        break;
      case 'sack-permitted':
        out[i] = TCPOPT_SACK_PERMITTED; out[i + 1] = 2;
        i += 2;
        break;
      case 'sack':
        out[i] = TCPOPT_SACK; out[i + 1] = 2 + 8 * o.blocks.length;
        i += 2;
        for (const blk of o.blocks) { dv.setUint32(i, blk.left >>> 0); dv.setUint32(i + 4, blk.right >>> 0); i += 8; }
        break;
      case 'timestamp':
        out[i] = TCPOPT_TIMESTAMP; out[i + 1] = 10;
        dv.setUint32(i + 2, o.tsval >>> 0); dv.setUint32(i + 6, o.tsecr >>> 0);
        i += 10;
        break;
      case 'unknown':
        out[i] = o.type; out[i + 1] = 2 + o.data.length;
        out.set(o.data, i + 2);
        i += 2 + o.data.length;
        break;
    }
  }
  return i;
}

/** What the endpoint needs from an option list. */
export interface TcpOptionsInfo {
  mss: number | null;
  /** Shift as sent; values > 14 are reported as-is (the endpoint clamps, RFC 7323 §2.3). */
  wscale: number | null;
  sackPermitted: boolean;
  /** Blocks of the first SACK option ([] if none); the same array as in the option. */
  sack: SackBlock[];
  ts: { tsval: number; tsecr: number } | null;
}

/** Summarise an option list; for each kind the first occurrence wins. */
export function tcpOptionsInfo(opts: readonly TcpOption[]): TcpOptionsInfo {
  let mss: number | null = null, wscale: number | null = null, sackPermitted = false;
  let sack: SackBlock[] | null = null;
  let ts: { tsval: number; tsecr: number } | null = null;
  for (let k = 0; k < opts.length; k++) {
    const o = opts[k]!;
    switch (o.kind) {
      case 'mss': if (mss === null) mss = o.mss; break;
      case 'wscale': if (wscale === null) wscale = o.shift; break;
      case 'sack-permitted': sackPermitted = true; break;
      case 'sack': if (sack === null) sack = o.blocks; break;
      case 'timestamp': if (ts === null) ts = { tsval: o.tsval, tsecr: o.tsecr }; break;
      default: break;
    }
  }
  return { mss, wscale, sackPermitted, sack: sack ?? [], ts };
}

/** Inputs of buildTcpOptions; omitted or null fields are left out. */
export interface TcpOptionsSpec {
  mss?: number | null;
  wscale?: number | null;
  sackPermitted?: boolean;
  ts?: { tsval: number; tsecr: number } | null;
  sack?: readonly SackBlock[] | null;
}

/**
 * Options laid out as Linux's tcp_options_write does, each group 4-byte aligned:
 * MSS; then SACK-permitted+TS sharing a word (`04 02 08 0a`) or NOP NOP TS; NOP NOP
 * SACK-permitted if there is no TS; NOP wscale; NOP NOP SACK blocks. At most 40 bytes:
 * SACK blocks that do not fit are dropped (3 fit beside a timestamp, 4 without).
 * Example SYN: `02 04 05 b4  04 02 08 0a <tsval> <tsecr>  01 03 03 07`.
 */
export function buildTcpOptions(spec: TcpOptionsSpec): TcpOption[] {
  const opts: TcpOption[] = [];
  let len = 0;
  if (spec.mss != null) { opts.push({ kind: 'mss', mss: spec.mss }); len += 4; }
  const sp = spec.sackPermitted === true;
  if (spec.ts != null) {
    if (sp) opts.push({ kind: 'sack-permitted' });
    else opts.push({ kind: 'nop' }, { kind: 'nop' });
    opts.push({ kind: 'timestamp', tsval: spec.ts.tsval, tsecr: spec.ts.tsecr });
    len += 12;
  } else if (sp) {
    opts.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack-permitted' });
    len += 4;
  }
  if (spec.wscale != null) { opts.push({ kind: 'nop' }, { kind: 'wscale', shift: spec.wscale }); len += 4; }
  if (spec.sack != null && spec.sack.length > 0) {
    const room = Math.floor((TCP_MAX_OPTIONS_LEN - len - 4) / 8);
    const n = Math.min(room, spec.sack.length);
    if (n > 0) {
      const blocks: SackBlock[] = [];
      for (let k = 0; k < n; k++) { const b = spec.sack[k]!; blocks.push({ left: b.left, right: b.right }); }
      opts.push({ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks });
    }
  }
  return opts;
}
