// A socket API over a Host, shaped like Node's `net`: a Server (EventEmitter) and a Socket
// that is a real stream.Duplex, so Node's own http.Server and http.request run on it
// unchanged (tun/http.ts).
//
// Backpressure reaches the TCP window in both directions:
//   - receive: `_read` pulls with `recv` only while the readable side wants data (push()
//     returned true); bytes the application has not taken stay in the stack's receive
//     buffer, so the advertised window shrinks to zero while a reader is paused;
//   - send: `_write` hands bytes to `send`, which accepts at most the free send buffer; the
//     write callback waits for the stack's 'writable' event, so `write()` returns false and
//     'drain' follows only when the peer's ACKs have made room.
//
// Closing follows Node on Linux: `end()` is a half-close (FIN after queued data, 'finish');
// `destroy()` is close(2): FIN when everything received was read, RST when unread data is
// left (the stack's `close` event decides, RFC 9293 §3.10.4 / RFC 2525 §2.17);
// `resetAndDestroy()` always sends RST (ABORT, RFC 9293 §3.10.5). Errors carry Node's
// `code`, `errno` and `syscall`.

import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';
import { Duplex } from 'node:stream';
import type { AppEvent, ConnId, ErrorCode, ListenerId, TcpSocketConfig } from '../stack/api.ts';
import { isV6 } from '../stack/wire/addr.ts';
import type { Host } from './driver.ts';

/** Most bytes taken from the stack per recv call (one push into the readable side). */
const READ_CHUNK = 64 * 1024;
const EMPTY_BYTES = new Uint8Array(0);

type Callback = (err?: Error | null) => void;

/** An Error shaped like Node's system errors (`connect ECONNREFUSED 10.0.0.2:80`). */
export function errnoError(code: ErrorCode, syscall: string, address?: string, port?: number): NodeJS.ErrnoException {
  const where = address === undefined ? '' : port === undefined ? ` ${address}` : ` ${address}:${port}`;
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}${where}`);
  const n = (osConstants.errno as Record<string, number | undefined>)[code];
  if (n !== undefined) err.errno = -n;
  err.code = code;
  err.syscall = syscall;
  if (address !== undefined) (err as NodeJS.ErrnoException & { address?: string }).address = address;
  if (port !== undefined) (err as NodeJS.ErrnoException & { port?: number }).port = port;
  return err;
}

/** Split a ConnId into its 4-tuple. */
export function parseConnId(id: ConnId): { localAddr: string; localPort: number; remoteAddr: string; remotePort: number } {
  const [la = '', lp = '0', ra = '', rp = '0'] = id.split('|');
  return { localAddr: la, localPort: Number(lp), remoteAddr: ra, remotePort: Number(rp) };
}

const family = (a: string): 'IPv4' | 'IPv6' => (isV6(a) ? 'IPv6' : 'IPv4');

export interface AddressInfo { address: string; family: 'IPv4' | 'IPv6'; port: number }

export interface SocketOptions {
  /** Keep the writable side open after the peer's FIN (default false, like Node). */
  allowHalfOpen?: boolean;
  /** Readable/writable buffer watermarks of the stream (Node's defaults otherwise). */
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

export interface ConnectOptions extends SocketOptions {
  port: number;
  /** Remote address (canonical text; no name resolution). */
  host: string;
  localAddress?: string;
  localPort?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Inactivity timeout (ms), as socket.setTimeout. */
  timeout?: number;
  /** Per-socket TCP settings passed to the stack's connect (rcvBuf, sndBuf, cc, ...). */
  tcp?: Partial<TcpSocketConfig>;
}

export interface ServerOptions {
  allowHalfOpen?: boolean;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  /** Accepted sockets start paused (Node's pauseOnConnect). */
  pauseOnConnect?: boolean;
  /** Per-socket TCP settings for accepted connections (passed to the stack's listen). */
  tcp?: Partial<TcpSocketConfig>;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

interface PendingWrite { data: Uint8Array; off: number; cb: Callback }

/** A TCP connection as a Node Duplex stream. */
export class Socket extends Duplex {
  readonly host: Host;
  /** The stack's connection id; null before connect() or if it failed. */
  id: ConnId | null = null;
  /** True between connect() and the handshake's completion (Node's `socket.connecting`). */
  connecting = false;
  /** The inactivity timeout set by setTimeout (ms; 0 = none), as Node's `socket.timeout`. */
  timeout = 0;
  /** Payload bytes delivered to the readable side. */
  bytesRead = 0;
  /** The Server that accepted this socket, if any (Node sets socket.server). */
  server: Server | null = null;

  private written = 0;
  private tuple: { localAddr: string; localPort: number; remoteAddr: string; remotePort: number } | null = null;
  private wantRead = false;
  private pulling = false;
  private readDone = false;
  /** The connection is over in the stack ('closed' or 'error' seen, or we closed it). */
  private tcpDone = false;
  private pendingWrite: PendingWrite | null = null;
  private pendingFinal: Callback | null = null;
  private timer: NodeJS.Timeout | null = null;
  private refd = true;
  private holdsRef = false;
  private keepAliveIdle: number | null = null;
  /** destroy() sends RST (resetAndDestroy) instead of close(2) semantics. */
  private resetOnDestroy = false;
  /** Options to apply once the connection exists (setNoDelay/setKeepAlive before connect). */
  private preOptions: Partial<TcpSocketConfig> = {};
  private readonly onTcp = (ev: AppEvent): void => this.handle(ev);

  constructor(host: Host, opts: SocketOptions = {}) {
    super({
      allowHalfOpen: opts.allowHalfOpen ?? false,
      readableHighWaterMark: opts.readableHighWaterMark,
      writableHighWaterMark: opts.writableHighWaterMark,
      emitClose: true,
      autoDestroy: true,
      decodeStrings: true,
    });
    this.host = host;
    // Node's net.Socket: once the peer's FIN is read and half-open is off, writes fail with
    // EPIPE ("This socket has been ended by the other party").
    this.on('end', () => { if (!this.allowHalfOpen) this.write = writeAfterFIN; });
  }

  /** Adopt an accepted connection (used by Server). */
  static accepted(host: Host, id: ConnId, server: Server, opts: SocketOptions): Socket {
    const s = new Socket(host, opts);
    s.server = server;
    s.attach(id);
    return s;
  }

  /** Active open. Emits 'connect' on success, 'error' (ECONNREFUSED, ETIMEDOUT...) otherwise. */
  connect(opts: ConnectOptions, listener?: () => void): this {
    if (this.id !== null || this.connecting) throw new Error('Socket.connect: already connected or connecting');
    if (typeof opts.port !== 'number' || !(opts.port > 0 && opts.port < 65536)) throw new RangeError(`Socket.connect: bad port ${opts.port}`);
    if (typeof opts.host !== 'string' || opts.host === '') throw new TypeError('Socket.connect: host (an address) is required');
    if (listener) this.once('connect', listener);
    if (opts.noDelay) this.preOptions.noDelay = true;
    if (opts.keepAlive) this.setKeepAlive(true, opts.keepAliveInitialDelay ?? 0);
    if (opts.timeout) this.setTimeout(opts.timeout);
    this.connecting = true;
    const r = this.host.call({
      type: 'connect', local: opts.localAddress ?? null, localPort: opts.localPort ?? null,
      remote: opts.host, port: opts.port, options: { ...opts.tcp, ...this.preOptions },
    });
    this.preOptions = {};
    if (!r.ok) {
      const err = errnoError(r.code, 'connect', opts.host, opts.port);
      process.nextTick(() => { this.connecting = false; this.destroy(err); });
      return this;
    }
    this.attach(r.id);
    return this;
  }

  private attach(id: ConnId): void {
    this.id = id;
    this.tuple = parseConnId(id);
    this.host.watchConn(id, this.onTcp);
    if (this.refd) { this.host.addRef(); this.holdsRef = true; }
    if (Object.keys(this.preOptions).length > 0) {
      this.host.call({ type: 'set-option', id, options: this.preOptions });
      this.preOptions = {};
    }
  }

  // ------------------------------------------------------------------- stack events

  private handle(ev: AppEvent): void {
    switch (ev.type) {
      case 'connected':
        if (!this.connecting) return;
        this.connecting = false;
        this.refreshTimeout();
        this.emit('connect');
        this.emit('ready');
        if (this.pendingWrite !== null) this.continueWrite();
        if (this.pendingFinal !== null && this.pendingWrite === null) { const cb = this.pendingFinal; this.pendingFinal = null; this.doFinal(cb); }
        if (this.wantRead) this.pull();
        return;
      case 'readable':
        if (this.wantRead) this.pull();
        return;
      case 'eof':
        // The peer's FIN and everything before it have been taken by recv. During our own
        // recv call (pull) the result's eof flag ends the stream after its data is pushed.
        if (!this.pulling) this.endReadable();
        return;
      case 'writable':
        if (this.pendingWrite !== null) this.continueWrite();
        return;
      case 'drained':
        return;
      case 'error': {
        this.tcpDone = true;
        this.finishWithStack();
        const syscall = this.connecting ? 'connect' : ev.code === 'ETIMEDOUT' || ev.code === 'ECONNRESET' ? 'read' : 'write';
        const t = this.tuple;
        const err = this.connecting && t ? errnoError(ev.code, syscall, t.remoteAddr, t.remotePort) : errnoError(ev.code, syscall);
        this.connecting = false;
        this.destroy(err);
        return;
      }
      case 'closed':
        this.tcpDone = true;
        this.finishWithStack();
        if (this.destroyed) return;
        // Both FINs exchanged. Whatever the application has not read yet is still in the
        // stream's future: take it now (ignoring backpressure: the connection is gone) and end.
        this.drainAll();
        this.endReadable();
        if (!this.writableFinished && this.pendingWrite !== null) this.destroy(errnoError('EPIPE', 'write'));
        return;
      case 'accept-ready':
        return;
    }
  }

  /** Stop listening to the stack for this id. */
  private finishWithStack(): void {
    if (this.id !== null) this.host.unwatchConn(this.id, this.onTcp);
    if (this.holdsRef) { this.holdsRef = false; this.host.removeRef(); }
  }

  // ------------------------------------------------------------------- readable side

  override _read(_size: number): void {
    this.wantRead = true;
    this.pull();
  }

  /** Take data from the stack while the readable side wants more. */
  private pull(): void {
    if (this.pulling || this.id === null || this.connecting || this.readDone || this.tcpDone) return;
    this.pulling = true;
    try {
      while (this.wantRead && !this.readDone && !this.destroyed) {
        const r = this.host.call({ type: 'recv', id: this.id, max: READ_CHUNK });
        if (!r.ok) return; // the connection ended: its 'error'/'closed' event does the rest
        if (r.data.length > 0) {
          this.bytesRead += r.data.length;
          this.refreshTimeout();
          this.wantRead = this.push(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.length));
        }
        if (r.eof) { this.endReadable(); return; }
        if (r.data.length === 0) return; // nothing yet: 'readable' wakes us
      }
    } finally {
      this.pulling = false;
    }
  }

  /** After the stack reported the connection closed: everything still unread, regardless of backpressure. */
  private drainAll(): void {
    if (this.id === null || this.readDone) return;
    for (;;) {
      const r = this.host.call({ type: 'recv', id: this.id, max: READ_CHUNK });
      if (!r.ok || r.data.length === 0) return;
      this.bytesRead += r.data.length;
      this.push(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.length));
      if (r.eof) return;
    }
  }

  private endReadable(): void {
    if (this.readDone) return;
    this.readDone = true;
    this.push(null);
  }

  // ------------------------------------------------------------------- writable side

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: Callback): void {
    this.pendingWrite = { data: chunk, off: 0, cb };
    if (this.connecting) return; // continued on 'connected'
    this.continueWrite();
  }

  /** Offer the rest of the pending chunk to the stack; complete it when all was accepted. */
  private continueWrite(): void {
    const w = this.pendingWrite;
    if (w === null || this.id === null) return;
    while (w.off < w.data.length) {
      const data = w.off === 0 ? w.data : w.data.subarray(w.off);
      const r = this.host.call({ type: 'send', id: this.id, data });
      if (!r.ok) {
        this.pendingWrite = null;
        w.cb(errnoError(r.code, 'write'));
        return;
      }
      if (r.bytes === 0) return; // send buffer full: 'writable' continues
      w.off += r.bytes;
      this.written += r.bytes;
    }
    this.pendingWrite = null;
    this.refreshTimeout();
    w.cb();
  }

  override _final(cb: Callback): void {
    if (this.connecting) { this.pendingFinal = cb; return; }
    this.doFinal(cb);
  }

  private doFinal(cb: Callback): void {
    if (this.id === null || this.tcpDone) { cb(); return; }
    const r = this.host.call({ type: 'shutdown', id: this.id });
    cb(r.ok ? null : errnoError(r.code, 'shutdown'));
  }

  override _destroy(err: Error | null, cb: Callback): void {
    this.clearTimer();
    if (this.id !== null && !this.tcpDone) {
      // close(2): FIN if everything received was read, RST otherwise (the stack decides).
      this.tcpDone = true;
      this.host.call({ type: this.resetOnDestroy ? 'abort' : 'close', id: this.id });
    }
    this.finishWithStack();
    this.connecting = false;
    const w = this.pendingWrite;
    this.pendingWrite = null;
    if (w !== null) w.cb(err ?? errnoError('EPIPE', 'write'));
    const f = this.pendingFinal;
    this.pendingFinal = null;
    if (f !== null) f(err ?? errnoError('EPIPE', 'shutdown'));
    cb(err);
  }

  /**
   * Migration (migrate/host.ts freezeSocket): take every byte the application wrote that the
   * stack has not accepted yet — the rest of the chunk being written and the chunks Node's
   * Writable still buffers — in order, and whether end() was called after them. Their write
   * callbacks are dropped: the caller destroys this socket next, and the bytes are written
   * again on the socket that resumes the connection elsewhere.
   */
  takeUnsent(): { data: Uint8Array; ended: boolean } {
    const parts: Uint8Array[] = [];
    const w = this.pendingWrite;
    this.pendingWrite = null;
    if (w !== null && w.off < w.data.length) parts.push(w.data.subarray(w.off));
    const state = (this as unknown as { _writableState?: { getBuffer?: () => { chunk: unknown }[] } })._writableState;
    for (const b of state?.getBuffer?.() ?? []) {
      const c = b.chunk;
      if (c instanceof Uint8Array) parts.push(c);
      else if (typeof c === 'string') parts.push(Buffer.from(c));
    }
    let n = 0;
    for (const p of parts) n += p.length;
    const data = new Uint8Array(n);
    let o = 0;
    for (const p of parts) { data.set(p, o); o += p.length; }
    // end() called but its FIN not yet handed to the stack (it waits behind the unsent bytes).
    const ended = this.writableEnded && this.pendingFinal === null && !this.writableFinished;
    return { data, ended };
  }

  /**
   * Continuous replication (migrate/replicate.ts): the same bytes and flag as takeUnsent, but
   * the socket keeps them and goes on writing them. `data` may be a view of the application's
   * own chunks when there is exactly one part: copy it before keeping it.
   */
  peekUnsent(): { data: Uint8Array; ended: boolean } {
    const parts: Uint8Array[] = [];
    const w = this.pendingWrite;
    if (w !== null && w.off < w.data.length) parts.push(w.data.subarray(w.off));
    const state = (this as unknown as { _writableState?: { getBuffer?: () => { chunk: unknown }[] } })._writableState;
    const buffered = state?.getBuffer?.() ?? [];
    for (const b of buffered) {
      const c = b.chunk;
      if (c instanceof Uint8Array) parts.push(c);
      else if (typeof c === 'string') parts.push(Buffer.from(c));
    }
    const ended = this.writableEnded && this.pendingFinal === null && !this.writableFinished;
    if (parts.length === 0) return { data: EMPTY_BYTES, ended };
    if (parts.length === 1) return { data: parts[0]!, ended };
    let n = 0;
    for (const p of parts) n += p.length;
    const data = new Uint8Array(n);
    let o = 0;
    for (const p of parts) { data.set(p, o); o += p.length; }
    return { data, ended };
  }

  /** Close with RST whatever the state of the buffers (Node's socket.resetAndDestroy()). */
  resetAndDestroy(): this {
    this.resetOnDestroy = true;
    return this.destroy();
  }

  /** End the writable side, then destroy once it has finished (used by http.Server). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  // ------------------------------------------------------------------- options

  private setOption(options: Partial<TcpSocketConfig>): void {
    if (this.id === null) { Object.assign(this.preOptions, options); return; }
    if (this.tcpDone) return;
    this.host.call({ type: 'set-option', id: this.id, options });
  }

  /** Disable (true, the default) or enable Nagle's algorithm. */
  setNoDelay(noDelay = true): this {
    this.setOption({ noDelay });
    return this;
  }

  /** Keepalive probes after `initialDelay` ms idle (0: keep the current idle time). */
  setKeepAlive(enable = false, initialDelay = 0): this {
    const base = this.host.config.tcp.keepAlive;
    if (initialDelay > 0) this.keepAliveIdle = initialDelay;
    this.setOption({ keepAlive: { ...base, enabled: enable, idle: this.keepAliveIdle ?? base.idle } });
    return this;
  }

  /** Emit 'timeout' after `ms` of inactivity (no data read or written); 0 disables. */
  setTimeout(ms: number, cb?: () => void): this {
    this.timeout = ms;
    if (cb) { if (ms === 0) this.removeListener('timeout', cb); else this.once('timeout', cb); }
    this.clearTimer();
    if (ms > 0 && !this.destroyed) {
      // Kept after it fires: activity refresh()es it, so it can fire again (as Node's does).
      this.timer = setTimeout(() => this.emit('timeout'), ms);
      this.timer.unref(); // like Node: a socket timeout alone does not keep the process alive
    }
    return this;
  }

  private refreshTimeout(): void { this.timer?.refresh(); }
  private clearTimer(): void { if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; } }

  /** Let the process exit while this socket is open (or keep it alive again with ref()). */
  ref(): this {
    this.refd = true;
    if (!this.holdsRef && this.id !== null && !this.tcpDone) { this.holdsRef = true; this.host.addRef(); }
    return this;
  }
  unref(): this {
    this.refd = false;
    if (this.holdsRef) { this.holdsRef = false; this.host.removeRef(); }
    return this;
  }

  // ------------------------------------------------------------------- addresses

  address(): AddressInfo | Record<string, never> {
    const t = this.tuple;
    if (t === null) return {};
    return { address: t.localAddr, family: family(t.localAddr), port: t.localPort };
  }
  get remoteAddress(): string | undefined { return this.tuple?.remoteAddr; }
  get remotePort(): number | undefined { return this.tuple?.remotePort; }
  get remoteFamily(): 'IPv4' | 'IPv6' | undefined { return this.tuple ? family(this.tuple.remoteAddr) : undefined; }
  get localAddress(): string | undefined { return this.tuple?.localAddr; }
  get localPort(): number | undefined { return this.tuple?.localPort; }
  get localFamily(): 'IPv4' | 'IPv6' | undefined { return this.tuple ? family(this.tuple.localAddr) : undefined; }
  /** Bytes accepted by the stack for sending (Node counts what reached the kernel). */
  get bytesWritten(): number { return this.written; }
  /** 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed', as Node's socket.readyState. */
  get readyState(): string {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }
  /** Stream-buffered bytes not yet handed to the stack (Node's deprecated bufferSize). */
  get bufferSize(): number { return this.writableLength; }
  get pending(): boolean { return this.id === null || this.connecting; }
}

/** Node's writeAfterFIN: the peer ended and half-open is off, so a write is EPIPE. */
function writeAfterFIN(this: Socket, chunk: unknown, encOrCb?: unknown, cb?: unknown): boolean {
  const callback = (typeof encOrCb === 'function' ? encOrCb : cb) as Callback | undefined;
  void chunk;
  const err: NodeJS.ErrnoException = new Error('This socket has been ended by the other party');
  err.code = 'EPIPE';
  const n = (osConstants.errno as Record<string, number | undefined>).EPIPE;
  if (n !== undefined) err.errno = -n;
  err.syscall = 'write';
  process.nextTick(() => {
    this.destroy(err);
    callback?.(err);
  });
  return false;
}

// ------------------------------------------------------------------------------- Server

/** A listening TCP endpoint, shaped like Node's net.Server. */
export class Server extends EventEmitter {
  readonly host: Host;
  listening = false;
  /** Node's server.maxConnections: connections beyond it are reset on accept. */
  maxConnections: number | undefined = undefined;

  private readonly opts: ServerOptions;
  private listener: ListenerId | null = null;
  private port = 0;
  private addr: string | null = null;
  private readonly sockets = new Set<Socket>();
  private closing = false;
  private refd = true;
  private holdsRef = false;
  private readonly onListenerEvent = (ev: AppEvent): void => { if (ev.type === 'accept-ready') this.acceptAll(); };

  constructor(host: Host, options: ServerOptions = {}, connectionListener?: (s: Socket) => void) {
    super();
    this.host = host;
    this.opts = options;
    if (connectionListener) this.on('connection', connectionListener);
  }

  /**
   * listen(port, [host], [backlog], [cb]) or listen({ port, host, backlog }, [cb]). Port 0
   * picks a free port from the stack's ephemeral range. Errors (EADDRINUSE) are emitted as 'error'.
   */
  listen(...args: unknown[]): this {
    let port = 0, addr: string | null = null, backlog = 511;
    let cb: (() => void) | undefined;
    const last = args[args.length - 1];
    if (typeof last === 'function') { cb = last as () => void; args = args.slice(0, -1); }
    const first = args[0];
    if (typeof first === 'object' && first !== null) {
      const o = first as { port?: number; host?: string; backlog?: number };
      port = o.port ?? 0; addr = o.host ?? null; backlog = o.backlog ?? backlog;
    } else {
      port = typeof first === 'number' ? first : Number(first ?? 0);
      if (typeof args[1] === 'string') addr = args[1];
      else if (typeof args[1] === 'number') backlog = args[1];
      if (typeof args[2] === 'number') backlog = args[2];
    }
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`Server.listen: bad port ${port}`);
    if (this.listening) throw Object.assign(new Error('Listen method has been called more than once without closing.'), { code: 'ERR_SERVER_ALREADY_LISTEN' });
    if (cb) this.once('listening', cb);
    if (addr === '0.0.0.0' || addr === '::') addr = null;
    const r = port !== 0 ? this.tryListen(addr, port, backlog) : this.listenEphemeral(addr, backlog);
    if (!r.ok) {
      const err = errnoError(r.code, 'listen', addr ?? '::', port);
      err.message = `listen ${r.code}: ${r.code === 'EADDRINUSE' ? 'address already in use ' : ''}${addr ?? '::'}:${port}`;
      process.nextTick(() => this.emit('error', err));
      return this;
    }
    this.listener = r.listener;
    this.port = r.port;
    this.addr = addr;
    this.listening = true;
    this.closing = false;
    this.host.watchListener(r.listener, this.onListenerEvent);
    if (this.refd) { this.holdsRef = true; this.host.addRef(); }
    process.nextTick(() => this.emit('listening'));
    return this;
  }

  private tryListen(addr: string | null, port: number, backlog: number): { ok: true; listener: ListenerId; port: number } | { ok: false; code: ErrorCode } {
    const r = this.host.call({ type: 'listen', addr, port, backlog, options: this.opts.tcp });
    if (!r.ok) return r;
    return { ok: true, listener: r.listener, port: Number(r.listener.slice(r.listener.lastIndexOf('|') + 1)) || port };
  }

  /** Port 0: scan the ephemeral range from a position that moves on with each use. */
  private listenEphemeral(addr: string | null, backlog: number): ReturnType<Server['tryListen']> {
    const [lo, hi] = this.host.config.ephemeralPorts;
    const span = hi - lo + 1;
    for (let i = 0; i < span; i++) {
      const port = lo + ((ephemeralCursor++ + i) % span);
      const r = this.tryListen(addr, port, backlog);
      if (r.ok || r.code !== 'EADDRINUSE') return r;
    }
    return { ok: false, code: 'EADDRINUSE' };
  }

  private acceptAll(): void {
    while (this.listener !== null) {
      const r = this.host.call({ type: 'accept', listener: this.listener });
      if (!r.ok || r.id === null) return;
      const s = Socket.accepted(this.host, r.id, this, {
        allowHalfOpen: this.opts.allowHalfOpen ?? false,
        readableHighWaterMark: this.opts.readableHighWaterMark,
        writableHighWaterMark: this.opts.writableHighWaterMark,
      });
      if (this.maxConnections !== undefined && this.sockets.size >= this.maxConnections) { s.resetAndDestroy(); continue; }
      if (this.opts.noDelay) s.setNoDelay(true);
      if (this.opts.keepAlive) s.setKeepAlive(true, this.opts.keepAliveInitialDelay ?? 0);
      if (this.opts.pauseOnConnect) s.pause();
      this.sockets.add(s);
      s.once('close', () => { this.sockets.delete(s); this.maybeEmitClose(); });
      this.emit('connection', s);
    }
  }

  /** Stop accepting; 'close' follows once every accepted connection has closed (as Node). */
  close(cb?: (err?: Error) => void): this {
    if (!this.listening || this.listener === null) {
      const err = Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' });
      if (cb) process.nextTick(() => cb(err));
      return this;
    }
    if (cb) this.once('close', cb);
    this.host.unwatchListener(this.listener, this.onListenerEvent);
    this.host.call({ type: 'unlisten', listener: this.listener });
    this.listener = null;
    this.listening = false;
    this.closing = true;
    if (this.holdsRef) { this.holdsRef = false; this.host.removeRef(); }
    this.maybeEmitClose();
    return this;
  }

  private maybeEmitClose(): void {
    if (!this.closing || this.sockets.size > 0) return;
    this.closing = false;
    process.nextTick(() => this.emit('close'));
  }

  /** Destroy every accepted connection (http.Server.closeAllConnections-like). */
  destroyAll(): void { for (const s of [...this.sockets]) s.destroy(); }

  address(): AddressInfo | null {
    if (!this.listening) return null;
    const a = this.addr ?? (this.host.config.addresses.every(isV6) ? '::' : '0.0.0.0');
    return { address: a, family: family(a), port: this.port };
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.sockets.size;
    process.nextTick(() => cb(null, n));
    return this;
  }

  ref(): this {
    this.refd = true;
    if (!this.holdsRef && this.listening) { this.holdsRef = true; this.host.addRef(); }
    return this;
  }
  unref(): this {
    this.refd = false;
    if (this.holdsRef) { this.holdsRef = false; this.host.removeRef(); }
    return this;
  }
}

let ephemeralCursor = 0;

// ------------------------------------------------------------------------------- functions

/** net.createServer on `host`. */
export function createServer(host: Host, options?: ServerOptions | ((s: Socket) => void), listener?: (s: Socket) => void): Server {
  if (typeof options === 'function') return new Server(host, {}, options);
  return new Server(host, options ?? {}, listener);
}

/** net.connect / net.createConnection on `host`: (options, [cb]) or (port, host, [cb]). */
export function connect(host: Host, options: ConnectOptions | number, remote?: string | (() => void), cb?: () => void): Socket {
  const opts: ConnectOptions = typeof options === 'number' ? { port: options, host: typeof remote === 'string' ? remote : '' } : options;
  const listener = typeof remote === 'function' ? remote : cb;
  return new Socket(host, opts).connect(opts, listener);
}

export const createConnection = connect;
