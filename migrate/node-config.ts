// The HA node's configuration file (issue #8 item 1): JSON or YAML text → a validated NodeConfig
// with every default filled in. Every problem is reported at once, each with its path
// (`services[1].port: 70000 is not a port (1..65535)`), as one ConfigError; nothing here throws
// anything else. Unknown keys are errors, so a typo never passes silently. The cluster key never
// appears in a message: its values are not echoed, and every message is scrubbed of long hex runs
// in case a parser quoted the source.
import { readFileSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { canonicalIp } from '../stack/wire/addr.ts';
import type {
  DeviceConfig, Endpoint, HeartbeatConfig, IpMoveConfig, LimitsConfig, MembershipConfig, MoveConfig, NodeConfig, PeerConfig, ReplicationConfig, ServiceConfig, ServiceType,
} from './node-types.ts';

/** One or more problems in a configuration; `message` lists them all, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[], readonly file: string | null = null) {
    super(formatProblems(problems, file));
    this.name = 'ConfigError';
  }
}

function formatProblems(problems: readonly string[], file: string | null): string {
  const where = file === null ? '' : `${file}: `;
  if (problems.length === 1) return `${where}${problems[0]}`;
  return `${where}${problems.length} problems\n${problems.map((p) => `  ${p}`).join('\n')}`;
}

/** Hex runs this long could be key material a parser quoted from the source: never shown. */
const scrub = (s: string): string => s.replace(/[0-9a-fA-F]{16,}/g, '<redacted>');

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const SERVICE_TYPES: readonly ServiceType[] = ['http', 'echo', 'discard', 'counter', 'module'];
/** sockaddr_un.sun_path is 108 bytes including the terminating NUL (unix(7)). */
const UNIX_PATH_MAX = 107;
const MIN_KEY_BYTES = 16;

export const HEARTBEAT_DEFAULTS: Readonly<HeartbeatConfig> = { intervalMs: 50, timeoutMs: 300, hangMs: 5000 };
export const MOVE_DEFAULTS: Readonly<MoveConfig> = { ackTimeoutMs: 2000, onTimeout: 'move', graceMs: 2000 };
export const DEFAULT_PRIORITY = 100;
export const DEFAULT_HOOK_TIMEOUT_MS = 5000;
/** The control socket when the file names none. */
export const defaultControlPath = (name: string): string => `/run/ferry/${name}.sock`;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

/** A value as shown in a message: JSON, cut short. */
function show(v: unknown): string {
  let s: string;
  try { s = JSON.stringify(v) ?? String(v); } catch { s = String(v); }
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (isObj(v)) return 'a mapping';
  return `${typeof v === 'string' ? 'a string' : typeof v === 'number' ? 'a number' : typeof v === 'boolean' ? 'a boolean' : typeof v} ${show(v)}`;
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length]!;
}

/** Collects problems while walking the document; each reader returns a usable fallback on error. */
class Checker {
  readonly problems: string[] = [];
  constructor(readonly baseDir: string) {}

  bad(path: string, msg: string): void { this.problems.push(`${path}: ${msg}`); }

  /** Unknown keys of `o` are problems; `secret` hides their names (a key pasted as a mapping key). */
  keys(o: Obj, path: string, allowed: readonly string[], secret = false): void {
    for (const k of Object.keys(o)) {
      if (allowed.includes(k)) continue;
      const at = path === '' ? k : `${path}.${k}`;
      if (secret) { this.bad(path, `unknown field (allowed: ${allowed.join(', ')})`); continue; }
      const near = allowed.filter((a) => distance(k, a) <= 2);
      this.bad(at, `unknown key${near.length > 0 ? ` (did you mean ${near.map((n) => `'${n}'`).join(' or ')}?)` : ` (allowed here: ${allowed.join(', ')})`}`);
    }
  }

  obj(v: unknown, path: string): Obj | null {
    if (isObj(v)) return v;
    this.bad(path, `must be a mapping, not ${kind(v)}`);
    return null;
  }

  str(v: unknown, path: string, what = 'a non-empty string'): string | null {
    if (typeof v === 'string' && v.length > 0) return v;
    this.bad(path, `must be ${what}, not ${kind(v)}`);
    return null;
  }

  int(v: unknown, path: string, lo: number, hi: number, dflt: number, unit = ''): number {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v)) { this.bad(path, `must be an integer${unit}, not ${kind(v)}`); return dflt; }
    if (v < lo || v > hi) { this.bad(path, `${v} is out of range (${lo}..${hi}${unit})`); return dflt; }
    return v;
  }

  oneOf<T extends string>(v: unknown, path: string, choices: readonly T[], dflt: T): T {
    if (v === undefined) return dflt;
    if (typeof v === 'string' && (choices as readonly string[]).includes(v)) return v as T;
    this.bad(path, `${show(v)} is not one of ${choices.join(', ')}`);
    return dflt;
  }

  /** A path relative to the config's directory, made absolute; null stays null. */
  path(v: unknown, path: string): string | null {
    if (v === undefined || v === null) return null;
    const s = this.str(v, path, 'a path');
    if (s === null) return null;
    if (s.includes('\0')) { this.bad(path, 'a path cannot contain NUL'); return null; }
    return isAbsolute(s) ? resolve(s) : resolve(this.baseDir, s);
  }

  list(v: unknown, path: string): unknown[] {
    if (v === undefined) return [];
    if (Array.isArray(v)) return v;
    this.bad(path, `must be a list, not ${kind(v)}`);
    return [];
  }
}

/** "host:port" or "[v6]:port" → Endpoint, or an error message. `allowZero` for a listener on an ephemeral port. */
export function parseEndpoint(s: string, allowZero = false): Endpoint | string {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]]+):(\d{1,5})$/.exec(s);
  if (!m) return `${show(s)} is not "host:port" (IPv6: "[addr]:port")`;
  const host = canonicalIp(m[1]!);
  if (host === null) return `${show(m[1])} is not an IP address`;
  if (m[0].startsWith('[') !== host.includes(':')) return `${show(s)}: IPv6 addresses go in brackets, IPv4 without`;
  const port = Number(m[2]);
  if (port > 65535 || port < (allowZero ? 0 : 1)) return `${port} is not a port (${allowZero ? 0 : 1}..65535)`;
  return { host, port };
}

/** Endpoint → "host:port" / "[v6]:port". */
export const formatEndpoint = (e: Endpoint): string => (e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`);

function endpoint(c: Checker, v: unknown, path: string, allowZero = false): Endpoint | null {
  const s = c.str(v, path, '"host:port"');
  if (s === null) return null;
  const e = parseEndpoint(s, allowZero);
  if (typeof e === 'string') { c.bad(path, e); return null; }
  return e;
}

function device(c: Checker, v: unknown): DeviceConfig {
  const out: DeviceConfig = { mode: 'tun', name: null, cidr: '', mtu: null, pcap: null };
  if (v === undefined) { c.bad('device', 'required (at least { cidr: 10.200.1.1/24 })'); return out; }
  const o = c.obj(v, 'device');
  if (o === null) return out;
  c.keys(o, 'device', ['mode', 'cidr', 'name', 'mtu', 'pcap']);
  out.mode = c.oneOf(o.mode, 'device.mode', ['tun', 'tap'] as const, 'tun');
  let v6 = false;
  if (o.cidr === undefined) c.bad('device.cidr', "required: the kernel side's address, e.g. 10.200.1.1/24");
  else {
    const s = c.str(o.cidr, 'device.cidr', 'an address/prefix string');
    if (s !== null) {
      const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
      const ip = m ? canonicalIp(m[1]!) : null;
      if (!m || ip === null) c.bad('device.cidr', `${show(s)} is not address/prefix (e.g. 10.200.1.1/24)`);
      else {
        v6 = ip.includes(':');
        const len = Number(m[2]);
        if (len > (v6 ? 128 : 32)) c.bad('device.cidr', `prefix /${len} is too long for ${v6 ? 'IPv6' : 'IPv4'}`);
        else out.cidr = `${ip}/${len}`;
      }
    }
  }
  if (o.name !== undefined && o.name !== null) {
    // Linux IFNAMSIZ is 16 including the NUL; '/', ':' and whitespace are not allowed (dev_valid_name).
    if (typeof o.name !== 'string' || !/^[A-Za-z0-9_.-]{1,15}$/.test(o.name) || o.name === '.' || o.name === '..') {
      c.bad('device.name', `${show(o.name)} is not a device name (1..15 of A-Z a-z 0-9 _ . -)`);
    } else out.name = o.name;
  }
  // RFC 791 §3.1: every IPv4 host takes 576-byte datagrams; RFC 8200 §5: IPv6 links carry >= 1280.
  if (o.mtu !== undefined && o.mtu !== null) out.mtu = c.int(o.mtu, 'device.mtu', v6 ? 1280 : 576, 65535, 0) || null;
  out.pcap = c.path(o.pcap, 'device.pcap');
  return out;
}

function serviceIps(c: Checker, v: unknown, kernelSide: string): string[] {
  if (v === undefined) { c.bad('serviceIps', 'required: at least one service address'); return []; }
  const list = c.list(v, 'serviceIps');
  if (Array.isArray(v) && list.length === 0) c.bad('serviceIps', 'needs at least one service address');
  const out: string[] = [];
  list.forEach((x, i) => {
    const p = `serviceIps[${i}]`;
    const ip = typeof x === 'string' ? canonicalIp(x) : null;
    if (ip === null) { c.bad(p, `${show(x)} is not an IPv4 or IPv6 address`); return; }
    if (out.includes(ip)) { c.bad(p, `${ip} is listed twice`); return; }
    if (ip === kernelSide) { c.bad(p, `${ip} is the device's kernel-side address (device.cidr)`); return; }
    out.push(ip);
  });
  return out;
}

function heartbeat(c: Checker, v: unknown): HeartbeatConfig {
  const out = { ...HEARTBEAT_DEFAULTS };
  if (v === undefined) return out;
  const o = c.obj(v, 'heartbeat');
  if (o === null) return out;
  c.keys(o, 'heartbeat', ['intervalMs', 'timeoutMs', 'hangMs']);
  out.intervalMs = c.int(o.intervalMs, 'heartbeat.intervalMs', 1, 60_000, HEARTBEAT_DEFAULTS.intervalMs, ' ms');
  out.timeoutMs = c.int(o.timeoutMs, 'heartbeat.timeoutMs', 1, 600_000, HEARTBEAT_DEFAULTS.timeoutMs, ' ms');
  out.hangMs = c.int(o.hangMs, 'heartbeat.hangMs', 1, 3_600_000, HEARTBEAT_DEFAULTS.hangMs, ' ms');
  // One lost heartbeat must not look like a dead peer.
  if (out.timeoutMs < 2 * out.intervalMs) {
    c.bad('heartbeat.timeoutMs', `${out.timeoutMs} ms must be at least twice heartbeat.intervalMs (${2 * out.intervalMs} ms)`);
  }
  return out;
}

/** Hex text (whitespace and ':' separators allowed) → bytes, or null. */
function hexBytes(s: string): Uint8Array | null {
  const h = s.replace(/[\s:]/g, '');
  if (h.length === 0 || h.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(h)) return null;
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The cluster key. No value under `key` is ever shown in a message. */
function key(c: Checker, v: unknown): Uint8Array {
  const none = new Uint8Array(0);
  const shape = 'must be { hex: "<at least 32 hex digits>" } or { file: <path> }';
  if (v === undefined) { c.bad('key', `required: ${shape.slice(8)}`); return none; }
  if (!isObj(v)) { c.bad('key', `${shape} (not ${Array.isArray(v) ? 'a list' : v === null ? 'null' : `a ${typeof v}`})`); return none; }
  c.keys(v, 'key', ['hex', 'file'], true);
  if ((v.hex === undefined) === (v.file === undefined)) { c.bad('key', `${shape}: exactly one of the two`); return none; }
  if (v.hex !== undefined) {
    const b = typeof v.hex === 'string' ? hexBytes(v.hex) : null;
    if (b === null) { c.bad('key.hex', 'must be a string of hex digits (an even number of them; in YAML, quote it)'); return none; }
    if (b.length < MIN_KEY_BYTES) { c.bad('key.hex', `too short: ${b.length} bytes, at least ${MIN_KEY_BYTES} (${2 * MIN_KEY_BYTES} hex digits)`); return none; }
    return b;
  }
  const file = c.path(v.file, 'key.file');
  if (file === null) return none;
  let raw: Uint8Array;
  try {
    // A key others can read is no longer the cluster's secret, and one others can write lets
    // them choose it: refused, as OpenSSH refuses private keys with such modes (chmod 600).
    const st = statSync(file);
    const uid = process.getuid?.() ?? st.uid;
    if ((st.mode & 0o077) !== 0) {
      c.bad('key.file', `${file}: group or others may read or write it (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): chmod 600 ${file}`);
      return none;
    }
    if (st.uid !== uid && st.uid !== 0) {
      c.bad('key.file', `${file}: owned by uid ${st.uid}, not by this node's user (uid ${uid}) or root`);
      return none;
    }
    raw = new Uint8Array(readFileSync(file));
  } catch (e) {
    c.bad('key.file', `${file}: ${fsReason(e)}`);
    return none;
  }
  // Hex text (a trailing newline and separators allowed) or raw bytes.
  const text = /^[0-9a-fA-F\s:]+$/.test(new TextDecoder('latin1').decode(raw)) ? hexBytes(new TextDecoder('latin1').decode(raw)) : null;
  const b = text ?? raw;
  if (b.length < MIN_KEY_BYTES) { c.bad('key.file', `${file}: the key is too short: ${b.length} bytes, at least ${MIN_KEY_BYTES}`); return none; }
  return b;
}

function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return code ?? 'cannot read';
}

function peers(c: Checker, v: unknown, own: string, ownHandover: Endpoint | null): PeerConfig[] {
  const out: PeerConfig[] = [];
  c.list(v, 'peers').forEach((x, i) => {
    const p = `peers[${i}]`;
    const o = c.obj(x, p);
    if (o === null) return;
    c.keys(o, p, ['name', 'handover']);
    let name: string | null = null;
    if (o.name === undefined) c.bad(`${p}.name`, 'required');
    else if (typeof o.name !== 'string' || !NAME_RE.test(o.name)) c.bad(`${p}.name`, `${show(o.name)} is not a name (1..64 of A-Z a-z 0-9 _ . -)`);
    else if (o.name === own) c.bad(`${p}.name`, `${show(o.name)} is this node's own name`);
    else if (out.some((q) => q.name === o.name)) c.bad(`${p}.name`, `${show(o.name)} is listed twice`);
    else name = o.name;
    let ep: Endpoint | null = null;
    if (o.handover === undefined) c.bad(`${p}.handover`, 'required ("host:port")');
    else ep = endpoint(c, o.handover, `${p}.handover`);
    if (ep !== null && ownHandover !== null && ep.host === ownHandover.host && ep.port === ownHandover.port) {
      c.bad(`${p}.handover`, `${formatEndpoint(ep)} is this node's own hand-over address`);
      ep = null;
    }
    if (name !== null && ep !== null) out.push({ name, handover: ep });
  });
  return out;
}

function services(c: Checker, v: unknown): ServiceConfig[] {
  const out: ServiceConfig[] = [];
  // Every name and (proto, port) seen, valid service or not, so a clash is reported either way.
  const names: string[] = [];
  const ports: string[] = [];
  c.list(v, 'services').forEach((x, i) => {
    const p = `services[${i}]`;
    const o = c.obj(x, p);
    if (o === null) return;
    c.keys(o, p, ['name', 'type', 'proto', 'port', 'root', 'module', 'options', 'replication']);
    let ok = true;
    const fail = (field: string, msg: string): void => { c.bad(`${p}.${field}`, msg); ok = false; };
    let name = '';
    if (o.name === undefined) fail('name', 'required');
    else if (typeof o.name !== 'string' || !NAME_RE.test(o.name)) fail('name', `${show(o.name)} is not a name (1..64 of A-Z a-z 0-9 _ . -)`);
    else if (names.includes(o.name)) fail('name', `${show(o.name)} is used by another service`);
    else name = o.name;
    if (typeof o.name === 'string') names.push(o.name);
    let type: ServiceType = 'echo';
    if (o.type === undefined) fail('type', `required (${SERVICE_TYPES.join(', ')})`);
    else if (typeof o.type !== 'string' || !(SERVICE_TYPES as readonly string[]).includes(o.type)) fail('type', `${show(o.type)} is not one of ${SERVICE_TYPES.join(', ')}`);
    else type = o.type as ServiceType;
    const before = c.problems.length;
    const proto = c.oneOf(o.proto, `${p}.proto`, ['tcp', 'sctp'] as const, 'tcp');
    if (c.problems.length !== before) ok = false;
    if ((type === 'http' || type === 'counter') && proto !== 'tcp') fail('proto', `a ${type} service runs over tcp only`);
    let port = 0;
    if (o.port === undefined) fail('port', 'required');
    else if (typeof o.port !== 'number' || !Number.isInteger(o.port) || o.port < 1 || o.port > 65535) fail('port', `${show(o.port)} is not a port (1..65535)`);
    else if (ports.includes(`${proto}/${o.port}`)) fail('port', `${proto} port ${o.port} is used by another service`);
    else port = o.port;
    if (typeof o.port === 'number') ports.push(`${proto}/${o.port}`);
    let root: string | null = null;
    if (o.root !== undefined && o.root !== null) {
      if (type !== 'http') fail('root', `only http services have a root (this one is ${type})`);
      else {
        root = c.path(o.root, `${p}.root`);
        if (root === null) ok = false;
        else {
          try {
            if (!statSync(root).isDirectory()) fail('root', `${root}: not a directory`);
          } catch (e) { fail('root', `${root}: ${fsReason(e) === 'no such file' ? 'no such directory' : fsReason(e)}`); }
        }
      }
    }
    let module: string | null = null;
    if (type === 'module') {
      if (o.module === undefined || o.module === null) fail('module', 'required for a module service (path of an ES module)');
      else {
        module = c.path(o.module, `${p}.module`);
        if (module === null) ok = false;
        else {
          try {
            if (!statSync(module).isFile()) fail('module', `${module}: not a file`);
          } catch (e) { fail('module', `${module}: ${fsReason(e)}`); }
        }
      }
    } else if (o.module !== undefined && o.module !== null) fail('module', `only module services have a module (this one is ${type})`);
    let options: Record<string, unknown> = {};
    if (o.options !== undefined && o.options !== null) {
      if (!isObj(o.options)) fail('options', `must be a mapping, not ${kind(o.options)}`);
      else options = o.options;
    }
    let repl: 'off' | 'sync' | 'async' | null = null;
    if (o.replication !== undefined && o.replication !== null) repl = c.oneOf(o.replication, `${p}.replication`, ['off', 'sync', 'async'] as const, 'off');
    if (ok) out.push({ name, type, proto, port, root, module, options, replication: repl });
  });
  return out;
}

function move(c: Checker, v: unknown): MoveConfig {
  const out = { ...MOVE_DEFAULTS };
  if (v === undefined) return out;
  const o = c.obj(v, 'move');
  if (o === null) return out;
  c.keys(o, 'move', ['ackTimeoutMs', 'onTimeout', 'graceMs']);
  out.ackTimeoutMs = c.int(o.ackTimeoutMs, 'move.ackTimeoutMs', 0, 3_600_000, MOVE_DEFAULTS.ackTimeoutMs, ' ms');
  out.onTimeout = c.oneOf(o.onTimeout, 'move.onTimeout', ['move', 'reset'] as const, MOVE_DEFAULTS.onTimeout);
  out.graceMs = c.int(o.graceMs, 'move.graceMs', 0, 3_600_000, MOVE_DEFAULTS.graceMs, ' ms');
  return out;
}

export const LIMITS_DEFAULTS: Readonly<LimitsConfig> = { sndBufTotal: 256 * 1024 * 1024, sndBufFloor: 8192, sndBuf: 262144, rcvBuf: 262144, synQueue: 1024 };

function limits(c: Checker, v: unknown): LimitsConfig {
  const out = { ...LIMITS_DEFAULTS };
  if (v === undefined) return out;
  const o = c.obj(v, 'limits');
  if (o === null) return out;
  c.keys(o, 'limits', ['sndBufTotal', 'sndBufFloor', 'sndBuf', 'rcvBuf', 'synQueue']);
  out.sndBufTotal = o.sndBufTotal === null ? null : c.int(o.sndBufTotal, 'limits.sndBufTotal', 65536, 2 ** 40, LIMITS_DEFAULTS.sndBufTotal!, ' bytes');
  out.sndBufFloor = c.int(o.sndBufFloor, 'limits.sndBufFloor', 0, 1 << 30, LIMITS_DEFAULTS.sndBufFloor, ' bytes');
  out.sndBuf = c.int(o.sndBuf, 'limits.sndBuf', 2048, 1 << 30, LIMITS_DEFAULTS.sndBuf, ' bytes');
  out.rcvBuf = c.int(o.rcvBuf, 'limits.rcvBuf', 2048, 1 << 30, LIMITS_DEFAULTS.rcvBuf, ' bytes');
  out.synQueue = c.int(o.synQueue, 'limits.synQueue', 1, 1 << 20, LIMITS_DEFAULTS.synQueue, '');
  return out;
}

export const REPLICATION_DEFAULTS: Readonly<ReplicationConfig> = { mode: 'off', maxLagMs: 50 };

function replication(c: Checker, v: unknown): ReplicationConfig {
  const out = { ...REPLICATION_DEFAULTS };
  if (v === undefined) return out;
  const o = c.obj(v, 'replication');
  if (o === null) return out;
  c.keys(o, 'replication', ['mode', 'maxLagMs']);
  out.mode = c.oneOf(o.mode, 'replication.mode', ['off', 'sync', 'async'] as const, REPLICATION_DEFAULTS.mode);
  out.maxLagMs = c.int(o.maxLagMs, 'replication.maxLagMs', 1, 60_000, REPLICATION_DEFAULTS.maxLagMs, ' ms');
  return out;
}

export const ETCD_DEFAULTS = { prefix: '/ferry', leaseTtlMs: 2000 } as const;

function membership(c: Checker, v: unknown): MembershipConfig {
  if (v === undefined || v === null) return { kind: 'direct' };
  const o = c.obj(v, 'membership');
  if (o === null) return { kind: 'direct' };
  c.keys(o, 'membership', ['kind', 'endpoints', 'prefix', 'leaseTtlMs']);
  const kindV = c.oneOf(o.kind, 'membership.kind', ['direct', 'etcd'] as const, 'direct');
  if (kindV === 'direct') {
    for (const k of ['endpoints', 'prefix', 'leaseTtlMs']) if (o[k] !== undefined) c.bad(`membership.${k}`, 'only with kind: etcd');
    return { kind: 'direct' };
  }
  const endpoints: string[] = [];
  c.list(o.endpoints, 'membership.endpoints').forEach((e, i) => {
    if (typeof e === 'string' && /^https?:\/\/[^\s/]+(:\d+)?\/?$/.test(e)) endpoints.push(e.replace(/\/$/, ''));
    else c.bad(`membership.endpoints[${i}]`, `must be an etcd client URL such as http://127.0.0.1:2379, not ${kind(e)}`);
  });
  if (Array.isArray(o.endpoints) && o.endpoints.length === 0) c.bad('membership.endpoints', 'needs at least one etcd client URL');
  if (o.endpoints === undefined) c.bad('membership.endpoints', 'required with kind: etcd (e.g. [http://127.0.0.1:2379])');
  let prefix: string = ETCD_DEFAULTS.prefix;
  if (o.prefix !== undefined) {
    if (typeof o.prefix === 'string' && /^\/[\x21-\x7e]*$/.test(o.prefix)) prefix = o.prefix.replace(/\/$/, '') || '/';
    else c.bad('membership.prefix', `must be a key prefix starting with "/", not ${kind(o.prefix)}`);
  }
  const leaseTtlMs = c.int(o.leaseTtlMs, 'membership.leaseTtlMs', 1000, 600_000, ETCD_DEFAULTS.leaseTtlMs, ' ms');
  return { kind: 'etcd', endpoints, prefix, leaseTtlMs };
}

function ipMove(c: Checker, v: unknown, deviceMode: 'tun' | 'tap'): IpMoveConfig {
  const dflt: 'hooks' | 'arp' = deviceMode === 'tap' ? 'arp' : 'hooks';
  const out: IpMoveConfig = { mode: dflt, up: [], down: [], hookTimeoutMs: DEFAULT_HOOK_TIMEOUT_MS };
  if (v === undefined) return out;
  const o = c.obj(v, 'ipMove');
  if (o === null) return out;
  c.keys(o, 'ipMove', ['mode', 'up', 'down', 'hookTimeoutMs']);
  out.mode = c.oneOf(o.mode, 'ipMove.mode', ['hooks', 'arp'] as const, dflt);
  if (out.mode === 'arp' && deviceMode !== 'tap') c.bad('ipMove.mode', 'arp needs a tap device (device.mode: tap); a tun device moves the IP with hooks');
  for (const dir of ['up', 'down'] as const) {
    c.list(o[dir], `ipMove.${dir}`).forEach((cmd, i) => {
      if (typeof cmd === 'string' && cmd.trim().length > 0) out[dir].push(cmd);
      else c.bad(`ipMove.${dir}[${i}]`, `must be a shell command (a non-empty string), not ${kind(cmd)}`);
    });
  }
  out.hookTimeoutMs = c.int(o.hookTimeoutMs, 'ipMove.hookTimeoutMs', 1, 3_600_000, DEFAULT_HOOK_TIMEOUT_MS, ' ms');
  return out;
}

const TOP_KEYS = ['name', 'priority', 'device', 'serviceIps', 'handover', 'peers', 'heartbeat', 'key', 'services', 'move', 'ipMove', 'control', 'metrics', 'log', 'membership', 'replication', 'limits'] as const;

/** Validate a parsed document (plain JSON-like data) into a NodeConfig; throws ConfigError. */
export function validateNodeConfig(doc: unknown, baseDir: string): NodeConfig {
  const c = new Checker(resolve(baseDir));
  if (!isObj(doc)) throw new ConfigError([`the configuration must be a mapping of keys (name, device, ...), not ${doc === undefined || doc === null ? 'empty' : kind(doc)}`]);
  c.keys(doc, '', TOP_KEYS);
  let name = '';
  if (doc.name === undefined) c.bad('name', 'required');
  else if (typeof doc.name !== 'string' || !NAME_RE.test(doc.name)) c.bad('name', `${show(doc.name)} is not a name (1..64 of A-Z a-z 0-9 _ . -)`);
  else name = doc.name;
  const priority = c.int(doc.priority, 'priority', 1, 255, DEFAULT_PRIORITY);
  const dev = device(c, doc.device);
  const ips = serviceIps(c, doc.serviceIps, dev.cidr.split('/')[0] ?? '');
  let handover: Endpoint | null = null;
  if (doc.handover === undefined) c.bad('handover', 'required: this node\'s hand-over address "host:port"');
  else handover = endpoint(c, doc.handover, 'handover');
  const ps = peers(c, doc.peers, name, handover);
  const hb = heartbeat(c, doc.heartbeat);
  const k = key(c, doc.key);
  const svcs = services(c, doc.services);
  const mv = move(c, doc.move);
  const ipm = ipMove(c, doc.ipMove, dev.mode);
  const mem = membership(c, doc.membership);
  const rep = replication(c, doc.replication);
  const lim = limits(c, doc.limits);
  let control = name === '' ? '' : defaultControlPath(name);
  if (doc.control !== undefined && doc.control !== null) control = c.path(doc.control, 'control') ?? control;
  if (Buffer.byteLength(control) > UNIX_PATH_MAX) c.bad('control', `${control} is longer than a unix socket path may be (${UNIX_PATH_MAX} bytes)`);
  let metrics: Endpoint | null = null;
  if (doc.metrics !== undefined && doc.metrics !== null) metrics = endpoint(c, doc.metrics, 'metrics', true);
  const log = c.path(doc.log, 'log');
  if (c.problems.length > 0) throw new ConfigError(c.problems.map(scrub));
  return {
    name, priority, device: dev, serviceIps: ips, handover: handover!, peers: ps, heartbeat: hb, key: k,
    services: svcs, move: mv, ipMove: ipm, control, metrics, log, membership: mem, replication: rep, limits: lim,
  };
}

/** Line and column (1-based) of character offset `pos` in `text`. */
function lineCol(text: string, pos: number): string {
  const before = text.slice(0, Math.max(0, pos));
  const line = before.split('\n').length;
  return `line ${line}, column ${pos - before.lastIndexOf('\n')}`;
}

/**
 * Offset of the first JSON syntax error in `t` (RFC 8259 grammar), or -1. V8's messages quote the
 * source (which may hold the key) and not always a position, so the position is found here.
 */
export function jsonErrorOffset(t: string): number {
  let i = 0;
  const ws = (): void => { while (i < t.length && ' \t\n\r'.includes(t[i]!)) i++; };
  const fail = (): never => { throw i; };
  const lit = (w: string): void => { if (t.startsWith(w, i)) i += w.length; else fail(); };
  const str = (): void => {
    i++; // opening quote
    for (;;) {
      if (i >= t.length) fail();
      const ch = t.charCodeAt(i);
      if (ch === 0x22) { i++; return; }
      if (ch < 0x20) fail();
      if (ch === 0x5c) {
        i++;
        if (t[i] === 'u') { if (!/^[0-9a-fA-F]{4}$/.test(t.slice(i + 1, i + 5))) fail(); i += 5; }
        else if (t[i] !== undefined && '"\\/bfnrt'.includes(t[i]!)) i++;
        else fail();
      } else i++;
    }
  };
  const num = (): void => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(t.slice(i, i + 400));
    if (!m || m[0] === '' || m[0] === '-') fail();
    i += m![0].length;
  };
  const value = (depth: number): void => {
    if (depth > 512) fail();
    ws();
    const ch = t[i];
    if (ch === '{') {
      i++; ws();
      if (t[i] === '}') { i++; return; }
      for (;;) {
        ws();
        if (t[i] !== '"') fail();
        str(); ws();
        if (t[i] !== ':') fail();
        i++;
        value(depth + 1); ws();
        if (t[i] === ',') { i++; continue; }
        if (t[i] === '}') { i++; return; }
        fail();
      }
    } else if (ch === '[') {
      i++; ws();
      if (t[i] === ']') { i++; return; }
      for (;;) {
        value(depth + 1); ws();
        if (t[i] === ',') { i++; continue; }
        if (t[i] === ']') { i++; return; }
        fail();
      }
    } else if (ch === '"') str();
    else if (ch === 't') lit('true');
    else if (ch === 'f') lit('false');
    else if (ch === 'n') lit('null');
    else num();
  };
  try {
    value(0);
    ws();
    return i < t.length ? i : -1;
  } catch (at) {
    return typeof at === 'number' ? at : 0;
  }
}

/** JSON text → data, or a ConfigError saying where it broke (never quoting the text). */
function parseJson(text: string): unknown {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // an editor's byte-order mark
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const at = jsonErrorOffset(text);
    const what = at < 0 ? 'syntax error' : at >= text.length ? 'unexpected end of input' : `unexpected ${JSON.stringify(text[at])}`;
    throw new ConfigError([`not valid JSON: ${what}${at >= 0 ? ` (${lineCol(text, at)})` : ''}`]);
  }
}

/** YAML text → data, or a ConfigError listing every syntax error with its line. */
function parseYaml(text: string): unknown {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, version: '1.2' });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `not valid YAML (${lineCol(text, e.pos[0])}): ${scrub(e.message)}`));
  }
  try {
    return doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (e) {
    throw new ConfigError([`not valid YAML: ${scrub((e as Error).message)}`]);
  }
}

/**
 * Parse and validate configuration text. Relative paths (device.pcap, key.file, services[].root,
 * services[].module, control, log) are taken from `baseDir`. Throws ConfigError.
 */
export function parseNodeConfig(text: string, format: 'json' | 'yaml', baseDir: string): NodeConfig {
  return validateNodeConfig(format === 'json' ? parseJson(text) : parseYaml(text), baseDir);
}

/** Read a configuration file: .json → JSON, .yaml/.yml → YAML, anything else JSON then YAML. Throws ConfigError. */
export function loadNodeConfig(path: string): NodeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError([fsReason(e)], path);
  }
  const ext = extname(path).toLowerCase();
  const baseDir = dirname(resolve(path));
  try {
    if (ext === '.json') return parseNodeConfig(text, 'json', baseDir);
    if (ext === '.yaml' || ext === '.yml') return parseNodeConfig(text, 'yaml', baseDir);
    let doc: unknown;
    try { doc = parseJson(text); } catch { doc = parseYaml(text); }
    return validateNodeConfig(doc, baseDir);
  } catch (e) {
    if (e instanceof ConfigError) throw new ConfigError(e.problems, path);
    throw new ConfigError([`cannot read: ${scrub((e as Error).message)}`], path);
  }
}
