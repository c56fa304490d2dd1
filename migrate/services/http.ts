// A small HTTP/1.1 server written directly on the Socket, whose responses can move mid-body.
// (node:http cannot be used here: a half-sent ServerResponse lives in closures and stream
// state that no snapshot can carry.)
//
// Resources: GET/HEAD `/bytes/<n>` (n bytes of patternBytes, a deterministic function of the
// offset) and, when cfg.root is set, regular files under root. Keep-alive (HTTP/1.1 default,
// `Connection: close` honoured, HTTP/1.0 keep-alive on request), pipelined requests answered
// in order, request header block limited to 8 KiB (431), malformed requests 400 and close.
// Request bodies are not supported: a request announcing one is answered and the connection
// closed (its body could not be skipped reliably).
//
// The body is pumped with backpressure: write until write() returns false, continue on
// 'drain'; files are read by offset in 64 KiB chunks (FileHandle.read with a position), so
// the only thing that says where a response is, is its offset.
//
// onMove: stop pumping; a file read in flight is awaited but its bytes are not written (the
// offset does not advance); the state is { resource, size, offset reached, keep-alive } plus
// the unparsed request bytes (including a request whose response had not started). On the
// standby the pump continues from exactly that offset; a file whose size changed meanwhile
// ends the connection (destroy) rather than send a body that does not match its headers.
import { constants as fsConstants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';
import type { Socket } from '../../tun/net.ts';
import { fmix32 } from '../../tun/prng.ts';
import type { AppConn, FerryService, ServiceConfig, ServiceContext, TcpAppConn } from '../node-types.ts';
import { ReadGate, asRecord, concatBytes, errText, natField, packState, unpackState } from './common.ts';
import { destroyConn } from './echo.ts';

// ------------------------------------------------------------------------------- pattern

const PATTERN_SEED = 0x66657272; // 'ferr'

/** The pattern word at word index w (offset / 4), for any offset below 2^53. */
function patternWord(w: number): number {
  const lo = w >>> 0, hi = Math.floor(w / 4294967296);
  return fmix32((lo ^ fmix32((hi ^ PATTERN_SEED) >>> 0)) >>> 0);
}

/**
 * `length` bytes of the /bytes/<n> body starting at `offset`: byte i is byte (i mod 4),
 * big-endian, of fmix32 of the word index i/4 mixed with a fixed seed. Any slice can be
 * computed on its own, so a client verifies what it received and the sha256 of
 * /bytes/<n> is fixed.
 */
export function patternBytes(offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let i = 0, p = offset;
  // Head up to a word boundary, then whole words, then the tail.
  while (i < length && (p & 3) !== 0) { out[i] = (patternWord(Math.floor(p / 4)) >>> (24 - 8 * (p & 3))) & 0xff; i++; p++; }
  const dv = new DataView(out.buffer);
  for (; i + 4 <= length; i += 4, p += 4) dv.setUint32(i, patternWord(p / 4));
  for (; i < length; i++, p++) out[i] = (patternWord(Math.floor(p / 4)) >>> (24 - 8 * (p & 3))) & 0xff;
  return out;
}

// ------------------------------------------------------------------------------- limits

/** The request line and header fields together (431 beyond, RFC 6585 §5). */
export const HTTP_MAX_HEADER = 8 * 1024;
/** File reads and generated body chunks (option `chunkBytes` overrides). */
export const HTTP_CHUNK = 64 * 1024;
/** Pipelined bytes buffered while a response is in progress before reading pauses. */
const MAX_BUFFERED = 64 * 1024;
/** Largest /bytes/<n>. */
const MAX_BYTES = Number.MAX_SAFE_INTEGER;

const STATUS: Record<number, string> = {
  200: 'OK', 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 505: 'HTTP Version Not Supported',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.htm': 'text/html; charset=utf-8', '.txt': 'text/plain; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.json': 'application/json',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif',
  '.pdf': 'application/pdf', '.gz': 'application/gzip', '.tar': 'application/x-tar',
};

/** The Content-Type sent for a file name (application/octet-stream when unknown). */
export function contentTypeFor(name: string): string {
  return TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

// ------------------------------------------------------------------------------- parsing

/** A parsed request head. */
export interface HttpRequest {
  method: string;
  target: string;
  /** 0 or 1 (HTTP/1.0 or HTTP/1.1). */
  minor: number;
  headers: [string, string][];
  /** Bytes the head took (request line to the empty line, inclusive). */
  length: number;
}

export type HeadResult =
  | { kind: 'need' }
  | { kind: 'request'; req: HttpRequest }
  | { kind: 'error'; status: 400 | 431 | 505; why: string };

// RFC 9110 §5.6.2 tchar.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 9110 §5.5 field-value: visible characters, SP, HTAB, obs-text; no CR, LF, NUL.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Parse one request head from the front of `buf` (RFC 9112 §2–§5). Lines end with CRLF, or a
 * bare LF (§2.2 lets a recipient accept it); empty lines before the request line are skipped
 * (§2.2). 'need' when the head is not complete yet and still within the limit.
 */
export function parseRequestHead(buf: Uint8Array, maxHeader = HTTP_MAX_HEADER): HeadResult {
  let start = 0;
  // §2.2: "SHOULD ignore at least one empty line (CRLF) received prior to the request-line".
  while (start < buf.length && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
  // Find the empty line that ends the head.
  let end = -1;
  for (let i = buf.indexOf(0x0a, start); i >= 0; i = buf.indexOf(0x0a, i + 1)) {
    if (i - start > maxHeader) break;
    const next = buf[i + 1], next2 = buf[i + 2];
    if (next === 0x0a) { end = i + 2; break; }
    if (next === 0x0d && next2 === 0x0a) { end = i + 3; break; }
    if (next === undefined || (next === 0x0d && next2 === undefined)) break;
  }
  if (end < 0) {
    return buf.length - start > maxHeader ? { kind: 'error', status: 431, why: 'request head too large' } : { kind: 'need' };
  }
  if (end - start > maxHeader + 2) return { kind: 'error', status: 431, why: 'request head too large' };
  const text = latin1(buf.subarray(start, end));
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const reqLine = lines[0] ?? '';
  // §3: request-line = method SP request-target SP HTTP-version, single spaces.
  const parts = reqLine.split(' ');
  if (parts.length !== 3) return { kind: 'error', status: 400, why: 'malformed request line' };
  const [method = '', target = '', version = ''] = parts;
  if (!TOKEN.test(method)) return { kind: 'error', status: 400, why: 'bad method' };
  if (target === '' || /[\x00-\x20\x7f-\xff]/.test(target)) return { kind: 'error', status: 400, why: 'bad request target' };
  const v = /^HTTP\/(\d)\.(\d)$/.exec(version);
  if (v === null) return { kind: 'error', status: 400, why: 'bad HTTP version' };
  if (v[1] !== '1') return { kind: 'error', status: 505, why: `HTTP/${v[1]}.${v[2]}` };
  const headers: [string, string][] = [];
  for (const line of lines.slice(1)) {
    // §5.2: obs-fold may be rejected with 400.
    if (line.startsWith(' ') || line.startsWith('\t')) return { kind: 'error', status: 400, why: 'obsolete line folding' };
    const c = line.indexOf(':');
    // §5.1: no whitespace between the field name and the colon (400).
    if (c <= 0) return { kind: 'error', status: 400, why: 'malformed header field' };
    const name = line.slice(0, c);
    if (!TOKEN.test(name)) return { kind: 'error', status: 400, why: 'bad header field name' };
    const value = line.slice(c + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!FIELD_VALUE.test(value)) return { kind: 'error', status: 400, why: 'bad header field value' };
    headers.push([name.toLowerCase(), value]);
  }
  return { kind: 'request', req: { method, target, minor: v[2] === '0' ? 0 : 1, headers, length: end } };
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

const fieldValues = (req: HttpRequest, name: string): string[] => req.headers.filter(([n]) => n === name).map(([, v]) => v);

/** RFC 9112 §9.3: persistence from the version and the Connection field's options. */
function wantsKeepAlive(req: HttpRequest): boolean {
  const opts = fieldValues(req, 'connection').flatMap((v) => v.split(',')).map((t) => t.trim().toLowerCase());
  if (opts.includes('close')) return false;
  return req.minor >= 1 || opts.includes('keep-alive');
}

// ------------------------------------------------------------------------------- paths

export type Resolved =
  | { ok: true; kind: 'bytes'; size: number }
  | { ok: true; kind: 'file'; rel: string }
  | { ok: false; status: 400 | 403 | 404; why: string };

/**
 * Map a request target to a resource. Only origin-form and absolute-form targets (RFC 9112
 * §3.2.1, §3.2.2); percent-decoding once; `..` segments, a second leading slash (an absolute
 * path after decoding) and NUL are refused. Whether a file exists (and stays inside root after
 * following symlinks) is checked when it is opened.
 */
export function resolveTarget(target: string, hasRoot: boolean): Resolved {
  let t = target;
  const abs = /^https?:\/\/[^/?#]*/i.exec(t);
  if (abs !== null) t = t.slice(abs[0].length) || '/';
  if (!t.startsWith('/')) return { ok: false, status: 400, why: 'request target is not a path' };
  const q = t.search(/[?#]/);
  if (q >= 0) t = t.slice(0, q);
  let path: string;
  try { path = decodeURIComponent(t); } catch { return { ok: false, status: 400, why: 'bad percent-encoding' }; }
  if (path.includes('\0')) return { ok: false, status: 400, why: 'NUL in path' };
  const m = /^\/bytes\/(\d{1,16})$/.exec(path);
  if (m !== null) {
    const n = Number(m[1]);
    if (!Number.isSafeInteger(n) || n > MAX_BYTES) return { ok: false, status: 404, why: 'too large' };
    return { ok: true, kind: 'bytes', size: n };
  }
  if (!hasRoot) return { ok: false, status: 404, why: 'no such resource' };
  if (path.startsWith('//') || path.includes('\\')) return { ok: false, status: 403, why: 'absolute path' };
  const segs = path.slice(1).split('/');
  if (segs.some((s) => s === '..')) return { ok: false, status: 403, why: 'path escapes root' };
  const clean = segs.filter((s) => s !== '' && s !== '.');
  if (clean.length === 0 || path.endsWith('/')) return { ok: false, status: 404, why: 'not a file (no listings)' };
  return { ok: true, kind: 'file', rel: clean.join('/') };
}

type Opened = { ok: true; fh: FileHandle; size: number } | { ok: false; status: 403 | 404 | 500; why: string };

/** Open `rel` under `rootReal`, refusing anything whose real path leaves root or is not a regular file. */
async function openUnderRoot(rootReal: string, rel: string): Promise<Opened> {
  let real: string;
  try {
    real = await realpath(join(rootReal, rel));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES') return { ok: false, status: 403, why: 'permission denied' };
    return { ok: false, status: 404, why: code ?? 'not found' };
  }
  if (!real.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep)) return { ok: false, status: 403, why: 'symlink leaves root' };
  let fh: FileHandle;
  try {
    fh = await open(real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES') return { ok: false, status: 403, why: 'permission denied' };
    return { ok: false, status: 404, why: code ?? 'not found' };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) { await fh.close(); return { ok: false, status: 404, why: 'not a regular file' }; }
    return { ok: true, fh, size: st.size };
  } catch (e) {
    await fh.close().catch(() => {});
    return { ok: false, status: 500, why: errText(e) };
  }
}

// ------------------------------------------------------------------------------- state

/** A response whose body is in progress: what the move state carries. */
export interface HttpBodyState {
  kind: 'bytes' | 'file';
  /** bytes: ''; file: the path under root. */
  path: string;
  /** Body length announced in Content-Length. */
  size: number;
  /** Body bytes handed to socket.write() so far. */
  offset: number;
  /** After this body: keep the connection (true) or end it. */
  keepAlive: boolean;
}

export interface HttpMoveState {
  body: HttpBodyState | null;
  /** We have ended our side (a response with Connection: close finished). */
  ended: boolean;
  /** The client's FIN was read on the old node (the new Socket may not report it again). */
  clientEnded: boolean;
  /** Request bytes not answered yet (the next requests, unparsed). */
  pending: Uint8Array;
}

export function encodeHttpState(s: HttpMoveState): Uint8Array {
  return packState({ v: 1, body: s.body, ended: s.ended, clientEnded: s.clientEnded }, s.pending);
}

/** A blob from encodeHttpState, or null when malformed. */
export function decodeHttpState(b: Uint8Array): HttpMoveState | null {
  const u = unpackState(b);
  const m = u === null ? null : asRecord(u.meta);
  if (u === null || m === null || m.v !== 1 || typeof m.ended !== 'boolean' || typeof m.clientEnded !== 'boolean') return null;
  let body: HttpBodyState | null = null;
  if (m.body !== null) {
    const r = asRecord(m.body);
    if (r === null) return null;
    const size = natField(r, 'size'), offset = natField(r, 'offset');
    if ((r.kind !== 'bytes' && r.kind !== 'file') || typeof r.path !== 'string' || typeof r.keepAlive !== 'boolean') return null;
    if (size === null || offset === null || offset > size) return null;
    body = { kind: r.kind, path: r.path, size, offset, keepAlive: r.keepAlive };
  }
  return { body, ended: m.ended, clientEnded: m.clientEnded, pending: u.raw };
}

// ------------------------------------------------------------------------------- service

export interface HttpStats {
  open: number;
  requests: number;
  /** Body bytes handed to sockets on this node. */
  bodyBytes: number;
  /** Responses by status code. */
  status: Record<string, number>;
}

export interface HttpService extends FerryService {
  onConnection(conn: AppConn): void;
  onSwitchover(info: { to: string }): void;
  onMove(conn: AppConn): Promise<Uint8Array>;
  onMoveCancelled(conn: AppConn): void;
  onCheckpoint(conn: AppConn): Uint8Array;
  close(): void;
  stats(): HttpStats;
}

/**
 * The HTTP service for cfg (proto tcp). cfg.root, when set, must be a directory; options:
 * `chunkBytes` (body chunk size, default 64 KiB).
 */
export async function httpService(cfg: ServiceConfig, ctx: ServiceContext): Promise<HttpService> {
  if (cfg.proto !== 'tcp') throw new Error(`service ${cfg.name}: http is a TCP service`);
  let rootReal: string | null = null;
  if (cfg.root !== null) {
    try { rootReal = await realpath(cfg.root); } catch (e) { throw new Error(`service ${cfg.name}: root ${cfg.root}: ${errText(e)}`); }
  }
  const chunk = typeof cfg.options.chunkBytes === 'number' && Number.isSafeInteger(cfg.options.chunkBytes) && cfg.options.chunkBytes > 0
    ? cfg.options.chunkBytes : HTTP_CHUNK;
  const stats: HttpStats = { open: 0, requests: 0, bodyBytes: 0, status: {} };
  const conns = new Map<string, HttpConn>();
  const moving = new Map<string, HttpMoveState>();
  const env: Env = { cfg, log: ctx.log, rootReal, chunk, stats };

  const start = (conn: TcpAppConn, st: HttpMoveState | null): HttpConn => {
    const h = new HttpConn(conn, env, st, () => {
      if (conns.get(conn.id) === h) { conns.delete(conn.id); stats.open--; }
    });
    conns.set(conn.id, h);
    stats.open++;
    conn.socket.once('close', () => { if (moving.has(conn.id) && conns.get(conn.id) === undefined) moving.delete(conn.id); });
    h.begin();
    return h;
  };

  return {
    onConnection(conn: AppConn): void {
      try {
        if (conn.proto !== 'tcp') throw new Error('http is a TCP service');
        let st: HttpMoveState | null = null;
        if (conn.resumed && conn.state !== null && conn.state.length > 0) {
          st = decodeHttpState(conn.state);
          if (st === null) throw new Error('malformed http state');
        }
        start(conn, st);
      } catch (e) {
        ctx.log('error', { service: cfg.name, id: conn.id, error: errText(e) });
        destroyConn(conn);
      }
    },
    onSwitchover(): void { for (const h of conns.values()) h.gate.hold(); },
    async onMove(conn: AppConn): Promise<Uint8Array> {
      const h = conns.get(conn.id);
      if (h === undefined) return encodeHttpState({ body: null, ended: false, clientEnded: false, pending: new Uint8Array(0) });
      conns.delete(conn.id);
      stats.open--;
      const st = await h.detach();
      moving.set(conn.id, st);
      return encodeHttpState(st);
    },
    onMoveCancelled(conn: AppConn): void {
      const h = conns.get(conn.id);
      if (h !== undefined) { h.gate.release(); return; }
      const st = moving.get(conn.id);
      if (st === undefined || conn.proto !== 'tcp') return;
      moving.delete(conn.id);
      start(conn, st);
      conn.socket.resume();
    },
    // Replication (issue #9): where the connection is now, without stopping it.
    onCheckpoint(conn: AppConn): Uint8Array {
      const h = conns.get(conn.id);
      const st = h?.checkpoint() ?? moving.get(conn.id) ?? { body: null, ended: false, clientEnded: false, pending: new Uint8Array(0) };
      return encodeHttpState(st);
    },
    close(): void {
      for (const h of [...conns.values()]) h.destroy();
      conns.clear();
      moving.clear();
      stats.open = 0;
    },
    stats: () => ({ ...stats, status: { ...stats.status } }),
  };
}

interface Env {
  cfg: ServiceConfig;
  log: ServiceContext['log'];
  rootReal: string | null;
  chunk: number;
  stats: HttpStats;
}

interface Body extends HttpBodyState { fh: FileHandle | null }

/** One HTTP connection. */
class HttpConn {
  readonly gate: ReadGate;
  private readonly s: Socket;
  private readonly id: string;
  /** Unparsed request bytes. */
  private buf: Uint8Array = new Uint8Array(0);
  /** The raw head of the request being prepared (file being opened); put back on a move. */
  private preparing: Uint8Array | null = null;
  private body: Body | null = null;
  /** A file open or read in progress. */
  private inflight: Promise<void> | null = null;
  private waitingDrain = false;
  /** We ended our side (or will after the current body): read no further requests. */
  private ending = false;
  private ended = false;
  private clientEnded = false;
  private readPaused = false;
  /** onMove: stop everything, write nothing. */
  private moving = false;
  private dead = false;
  private readonly listeners: [string, (...a: unknown[]) => void][] = [];

  constructor(conn: TcpAppConn, private readonly env: Env, st: HttpMoveState | null, private readonly onGone: () => void) {
    this.s = conn.socket;
    this.id = conn.id;
    this.gate = new ReadGate(() => this.s.pause(), () => this.s.resume());
    if (st !== null) {
      this.buf = st.pending;
      this.ended = st.ended;
      this.clientEnded = st.clientEnded;
      this.ending = st.ended || (st.body !== null && !st.body.keepAlive);
      if (st.body !== null) this.body = { ...st.body, fh: null };
    }
  }

  begin(): void {
    const s = this.s;
    s.allowHalfOpen = true;
    this.on('data', (d: Buffer) => this.onData(new Uint8Array(d.buffer, d.byteOffset, d.length)));
    this.on('drain', () => this.onDrain());
    this.on('end', () => { this.clientEnded = true; this.next(); });
    // 'error' and 'close' stay attached after a move too: a late error is logged, never thrown.
    s.on('error', (e: Error) => this.env.log('conn-error', { service: this.env.cfg.name, id: this.id, error: e.message }));
    s.once('close', () => this.gone());
    const b = this.body;
    if (b !== null && b.kind === 'file') {
      // Resumed mid-file: the file must be the one whose length the headers announced.
      this.inflight = this.reopen(b).finally(() => {
        this.inflight = null;
        if (!this.moving && !this.dead && this.body?.fh) this.pump();
      });
    } else if (b !== null) {
      this.pump();
    } else {
      this.next();
    }
  }

  private async reopen(b: Body): Promise<void> {
    const o = this.env.rootReal === null ? null : await openUnderRoot(this.env.rootReal, b.path);
    if (this.moving || this.dead) { if (o?.ok) await o.fh.close().catch(() => {}); return; }
    if (o === null || !o.ok || o.size !== b.size) {
      if (o?.ok) await o.fh.close().catch(() => {});
      this.env.log('http.resume-refused', { service: this.env.cfg.name, id: this.id, path: b.path, want: b.size, have: o?.ok ? o.size : null, why: o === null ? 'no root' : o.ok ? 'file size changed' : o.why });
      this.destroy();
      return;
    }
    b.fh = o.fh;
  }

  private on<A extends unknown[]>(ev: string, fn: (...a: A) => void): void {
    const g = (...a: A): void => {
      try { fn(...a); } catch (e) {
        this.env.log('error', { service: this.env.cfg.name, id: this.id, error: errText(e) });
        this.destroy();
      }
    };
    this.s.on(ev, g as unknown as (...a: unknown[]) => void);
    this.listeners.push([ev, g as unknown as (...a: unknown[]) => void]);
  }

  private onData(d: Uint8Array): void {
    if (this.moving || this.dead) return;
    this.buf = concatBytes(this.buf, d.slice());
    if (this.busy() && this.buf.length > MAX_BUFFERED && !this.readPaused) { this.readPaused = true; this.gate.block(); }
    this.next();
  }

  /** A response in progress, or our output backed up (pipelined requests wait for 'drain'). */
  private busy(): boolean { return this.body !== null || this.preparing !== null || this.inflight !== null || this.waitingDrain; }

  /** Answer the next complete request, if nothing is in progress. */
  private next(): void {
    while (!this.busy() && !this.moving && !this.dead) {
      if (this.ending) {
        if (!this.ended) { this.ended = true; this.s.end(); }
        return;
      }
      if (this.readPaused && this.buf.length <= MAX_BUFFERED) { this.readPaused = false; this.gate.unblock(); }
      const head = parseRequestHead(this.buf);
      if (head.kind === 'need') {
        // The client finished sending: a partial request left is dropped, and so is the connection.
        if (this.clientEnded) { this.ending = true; continue; }
        return;
      }
      if (head.kind === 'error') {
        this.buf = new Uint8Array(0);
        this.simple(head.status, head.why, false, false);
        continue;
      }
      const req = head.req;
      const raw = this.buf.subarray(0, req.length);
      this.buf = this.buf.slice(req.length);
      this.handle(req, raw);
    }
  }

  private handle(req: HttpRequest, raw: Uint8Array): void {
    this.env.stats.requests++;
    let keepAlive = wantsKeepAlive(req);
    const head = req.method === 'HEAD';
    // RFC 9112 §3.2: a 1.1 request without exactly one Host field gets 400.
    const hosts = fieldValues(req, 'host');
    if (req.minor === 1 && hosts.length !== 1) { this.simple(400, 'Host header required', false, head); return; }
    // A body we cannot skip safely (RFC 9112 §6.3): answer and close.
    const te = fieldValues(req, 'transfer-encoding');
    const cl = fieldValues(req, 'content-length');
    if (te.length > 0 || cl.some((v) => v !== '0')) {
      if (cl.some((v) => !/^\d+$/.test(v)) || cl.length > 1) { this.simple(400, 'bad Content-Length', false, head); return; }
      keepAlive = false;
      if (req.method === 'GET' || req.method === 'HEAD') { this.simple(400, 'request bodies are not supported', false, head); return; }
    }
    if (req.method !== 'GET' && !head) {
      this.simple(405, 'only GET and HEAD', keepAlive, false, [['Allow', 'GET, HEAD']]);
      return;
    }
    const r = resolveTarget(req.target, this.env.rootReal !== null);
    if (!r.ok) { this.simple(r.status, r.why, keepAlive, head); return; }
    if (r.kind === 'bytes') {
      this.headers(200, [['Content-Type', 'application/octet-stream'], ['Content-Length', String(r.size)]], keepAlive);
      if (head || r.size === 0) { this.done(keepAlive); return; }
      this.body = { kind: 'bytes', path: '', size: r.size, offset: 0, keepAlive, fh: null };
      this.pump();
      return;
    }
    // A file: opening it is asynchronous; until its headers are written, a move puts the
    // request back in front of the unparsed bytes.
    this.preparing = raw.slice();
    const rootReal = this.env.rootReal!;
    this.inflight = (async () => {
      const o = await openUnderRoot(rootReal, r.rel);
      if (this.moving || this.dead) { if (o.ok) await o.fh.close().catch(() => {}); return; }
      this.preparing = null;
      if (!o.ok) { this.simple(o.status, o.why, keepAlive, head); return; }
      this.headers(200, [['Content-Type', contentTypeFor(r.rel)], ['Content-Length', String(o.size)]], keepAlive);
      if (head || o.size === 0) { await o.fh.close().catch(() => {}); this.done(keepAlive); return; }
      this.body = { kind: 'file', path: r.rel, size: o.size, offset: 0, keepAlive, fh: o.fh };
    })().catch((e: unknown) => {
      this.env.log('error', { service: this.env.cfg.name, id: this.id, error: errText(e) });
      this.destroy();
    }).finally(() => {
      this.inflight = null;
      if (!this.moving && !this.dead) { if (this.body !== null) this.pump(); else this.next(); }
    });
  }

  private headers(status: number, fields: [string, string][], keepAlive: boolean): void {
    this.env.stats.status[status] = (this.env.stats.status[status] ?? 0) + 1;
    let h = `HTTP/1.1 ${status} ${STATUS[status] ?? 'Unknown'}\r\nServer: ferry\r\n`;
    for (const [k, v] of fields) h += `${k}: ${v}\r\n`;
    h += `Connection: ${keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`;
    if (!this.s.write(h)) this.waitingDrain = true;
  }

  /** A short text/plain response (errors); the connection is kept or ended as `keepAlive` says. */
  private simple(status: number, why: string, keepAlive: boolean, head: boolean, extra: [string, string][] = []): void {
    const text = `${status} ${STATUS[status] ?? ''}: ${why}\n`;
    this.headers(status, [['Content-Type', 'text/plain; charset=utf-8'], ['Content-Length', String(Buffer.byteLength(text))], ...extra], keepAlive);
    if (!head && !this.s.write(text)) this.waitingDrain = true;
    this.done(keepAlive);
  }

  /** A response finished. */
  private done(keepAlive: boolean): void {
    if (!keepAlive) this.ending = true;
  }

  /** Write body chunks until the socket pushes back, the body ends, or a move stops us. */
  private pump(): void {
    const b = this.body;
    while (b !== null && this.body === b && !this.moving && !this.dead && !this.waitingDrain && this.inflight === null) {
      if (b.offset >= b.size) { this.finishBody(b); return; }
      const n = Math.min(this.env.chunk, b.size - b.offset);
      if (b.kind === 'bytes') {
        this.writeBody(b, patternBytes(b.offset, n));
        continue;
      }
      const fh = b.fh;
      if (fh === null) return;
      const buf = new Uint8Array(n);
      const at = b.offset;
      this.inflight = fh.read(buf, 0, n, at).then(({ bytesRead }) => {
        this.inflight = null;
        // Moving: the chunk is dropped, the offset not advanced; the standby reads it again.
        if (this.moving || this.dead || this.body !== b) return;
        if (bytesRead !== n) {
          this.env.log('http.file-changed', { service: this.env.cfg.name, id: this.id, path: b.path, at, want: n, got: bytesRead });
          this.destroy();
          return;
        }
        this.writeBody(b, buf);
        this.pump();
      }, (e: unknown) => {
        this.inflight = null;
        if (this.moving || this.dead) return;
        this.env.log('http.read-error', { service: this.env.cfg.name, id: this.id, path: b.path, error: errText(e) });
        this.destroy();
      });
      return;
    }
    if (b === null) this.next();
  }

  private writeBody(b: Body, data: Uint8Array): void {
    b.offset += data.length;
    this.env.stats.bodyBytes += data.length;
    if (!this.s.write(data)) this.waitingDrain = true;
  }

  private finishBody(b: Body): void {
    if (b.fh !== null) { const fh = b.fh; b.fh = null; fh.close().catch(() => {}); }
    this.body = null;
    this.done(b.keepAlive);
    this.next();
  }

  private onDrain(): void {
    if (this.moving || this.dead) return;
    this.waitingDrain = false;
    if (this.body !== null) this.pump(); else this.next();
  }

  /**
   * onMove: stop, wait for a file open/read in flight (its bytes are not written), let go of
   * the socket, and describe where the connection is.
   */
  async detach(): Promise<HttpMoveState> {
    this.moving = true;
    for (const [ev, fn] of this.listeners) this.s.off(ev, fn);
    this.listeners.length = 0;
    while (this.inflight !== null) await this.inflight.catch(() => {});
    const b = this.body;
    if (b?.fh) { const fh = b.fh; b.fh = null; await fh.close().catch(() => {}); }
    const pending = this.preparing !== null ? concatBytes(this.preparing, this.buf) : this.buf;
    return {
      body: b === null ? null : { kind: b.kind, path: b.path, size: b.size, offset: b.offset, keepAlive: b.keepAlive },
      ended: this.ended,
      clientEnded: this.clientEnded,
      pending: pending.slice(),
    };
  }

  /**
   * Replication: the state detach() would give, now, without stopping. A file read in flight
   * has not advanced the offset (its bytes are not written yet), and a file being opened puts
   * its request back in front, so the standby redoes either from exactly here.
   */
  checkpoint(): HttpMoveState {
    const b = this.body;
    return {
      body: b === null ? null : { kind: b.kind, path: b.path, size: b.size, offset: b.offset, keepAlive: b.keepAlive },
      ended: this.ended,
      clientEnded: this.clientEnded,
      pending: this.preparing !== null ? concatBytes(this.preparing, this.buf) : this.buf,
    };
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    const fh = this.body?.fh;
    if (fh) fh.close().catch(() => {});
    this.s.destroy();
    this.onGone();
  }

  private gone(): void {
    if (this.moving) return;
    this.dead = true;
    const fh = this.body?.fh;
    if (fh) { this.body!.fh = null; fh.close().catch(() => {}); }
    this.onGone();
  }
}
