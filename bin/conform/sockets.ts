// A small BSD-socket emulation over the pure stack API, for the system-call lines of packetdrill
// scripts (FreeBSD semantics: errno names, O_RDWR=2/O_NONBLOCK=4, so_error reporting), plus the
// shell commands and %{ code }% assertions the suite uses.
//
// Script file descriptors are names: socket() and accept() bind the number the script expects
// to the new socket, as packetdrill maps script fds to live ones.
import type { AppEvent, ConnId, ErrorCode, ListenerId, TcpSocketConfig, TcpStateName } from '../../stack/api.ts';
import { connInfo, listConnections } from '../../stack/stack.ts';
import type { Expr, ScriptEvent, Usecs } from './ast.ts';
import { applySysctl, SCRIPT_PORT } from './profile.ts';
import type { Runner } from './run.ts';

/** One emulated socket. */
export interface Sock {
  fd: number;
  nonblock: boolean;
  bound: boolean;
  listener: ListenerId | null;
  conn: ConnId | null;
  /** The connection reached ESTABLISHED at some point (connected or accepted). */
  established: boolean;
  /** Pending error (so_error), reported by getsockopt(SO_ERROR) and by the next call. */
  soError: ErrorCode | null;
  /** TcpSocketConfig as of socket() (what getsockopt reports before listen/connect) and setsockopt overrides. */
  created: TcpSocketConfig;
  overrides: Partial<TcpSocketConfig>;
  rdShut: boolean;
  wrShut: boolean;
  lingerZero: boolean;
  /** SO_KEEPALIVE as set on the socket (what getsockopt reports); see alwaysKeepAlive. */
  soKeepAlive: boolean;
}

interface CallResult { ret: number; errno: string | null }

/** A blocking call in progress (`start...end` lines). */
export interface Blocking {
  event: Extract<ScriptEvent, { type: 'syscall' }>;
  end: Usecs;
  poll(): CallResult | null;
}

const ok = (ret = 0): CallResult => ({ ret, errno: null });
const errno = (e: string): CallResult => ({ ret: -1, errno: e });
/** Marker: the call would block. */
const WOULD_BLOCK = null;

const O_RDWR = 2, O_NONBLOCK = 4;

const FREEBSD_STATE: Record<TcpStateName, string> = {
  'CLOSED': 'CLOSED', 'LISTEN': 'LISTEN', 'SYN-SENT': 'SYN_SENT', 'SYN-RECEIVED': 'SYN_RCVD', 'ESTABLISHED': 'ESTABLISHED',
  'FIN-WAIT-1': 'FIN_WAIT_1', 'FIN-WAIT-2': 'FIN_WAIT_2', 'CLOSE-WAIT': 'CLOSE_WAIT', 'CLOSING': 'CLOSING',
  'LAST-ACK': 'LAST_ACK', 'TIME-WAIT': 'TIME_WAIT',
};

/** `EAGAIN` and `EWOULDBLOCK` are the same errno (35) on FreeBSD. */
const sameErrno = (a: string, b: string) => a === b || (/^E(AGAIN|WOULDBLOCK)$/.test(a) && /^E(AGAIN|WOULDBLOCK)$/.test(b));

export class Sockets {
  readonly byFd: Map<number, Sock> = new Map();
  /** The socket packetdrill would call "the socket under test" (for %{ }% assertions and child ports). */
  sut: Sock | null = null;
  /** A listen() happened and its first inbound packet has not been sent yet: that packet gets a new remote port. */
  private awaitingChild = false;
  blocking: Blocking | null = null;
  private polling = false;

  constructor(private readonly r: Runner) {}

  // ------------------------------------------------------------------------ stack events

  onEvents(evs: AppEvent[]): void {
    for (const ev of evs) {
      if (ev.type === 'error') {
        const s = this.sockForConn(ev.id);
        if (s !== null) s.soError = ev.code;
      } else if (ev.type === 'connected') {
        const s = this.sockForConn(ev.id);
        if (s !== null) s.established = true;
      }
    }
  }

  private sockForConn(id: ConnId): Sock | null {
    for (const s of this.byFd.values()) if (s.conn === id) return s;
    return null;
  }

  /** Called before every injected TCP packet: a fresh listener's first packet opens a new child 4-tuple. */
  beforeInbound(): void {
    if (this.awaitingChild && this.sut !== null && this.sut.listener !== null) {
      this.awaitingChild = false;
      this.r.newConnection(SCRIPT_PORT, this.r.allocRemotePort());
    }
  }

  pollBlocking(): void {
    const b = this.blocking;
    if (b === null || this.polling) return;
    this.polling = true;
    try {
      const res = b.poll();
      if (res === null) return;
      this.blocking = null;
      this.checkResult(b.event, res);
      if (this.r.now < b.end - this.r.tol || this.r.now > b.end + this.r.tol) {
        this.r.fail(b.event, `blocking ${b.event.call.name} returned at ${this.r.now / 1e6} s, expected at ${b.end / 1e6} s (tolerance ${this.r.tol / 1e6} s)`);
      }
    } finally {
      this.polling = false;
    }
  }

  // ------------------------------------------------------------------------ system calls

  syscall(e: Extract<ScriptEvent, { type: 'syscall' }>, t: Usecs): void {
    const c = e.call;
    if (this.blocking !== null) this.r.fail(e, `system call while the blocking ${this.blocking.event.call.name} of line ${this.blocking.event.line} has not returned`);
    const run = this.impl(e);
    const first = run();
    if (c.end !== null) {
      const end = c.end.kind === 'abs' ? c.end.t : c.end.kind === 'rel' ? t - (e.time.kind === 'rel' ? e.time.t : 0) + c.end.t : t;
      if (first !== WOULD_BLOCK) {
        this.checkResult(e, first);
        if (this.r.now < end - this.r.tol) this.r.fail(e, `${c.name} returned at once (${this.r.now / 1e6} s); the script expects it to block until ${end / 1e6} s`);
        return;
      }
      this.blocking = { event: e, end, poll: run };
      return;
    }
    if (first === WOULD_BLOCK) this.r.fail(e, `${c.name} would block (the script expects it to return at once; blocking calls are written start...end)`);
    this.checkResult(e, first);
  }

  private checkResult(e: Extract<ScriptEvent, { type: 'syscall' }>, res: CallResult): void {
    const c = e.call;
    const got = res.errno !== null ? `${res.ret} ${res.errno}` : String(res.ret);
    if (c.errno !== null) {
      if (res.errno === null || !sameErrno(res.errno, c.errno)) this.r.syscallMismatch(e, `${c.name} returned ${got}, expected -1 ${c.errno}`);
      return;
    }
    if (res.errno !== null) { this.r.syscallMismatch(e, `${c.name} returned ${got}`); return; }
    if (c.ret.t === 'int' && c.ret.v !== res.ret) this.r.syscallMismatch(e, `${c.name} returned ${got}, expected ${c.ret.v}`);
  }

  /** The implementation of one call; returns a function (re-run while blocked) giving the result or WOULD_BLOCK. */
  private impl(e: Extract<ScriptEvent, { type: 'syscall' }>): () => CallResult | null {
    const c = e.call;
    const a = c.args;
    const nr = (why: string): never => this.r.notRunnable(e, why);
    const sock = (): Sock => {
      const fd = intArg(a[0]);
      const s = fd === null ? undefined : this.byFd.get(fd);
      if (s === undefined) {
        if (fd === null) nr(`${c.name}: the fd argument is not a number`);
        return { fd: -1 } as Sock;
      }
      return s;
    };
    const badFd = (s: Sock) => s.fd === -1;
    switch (c.name) {
      case 'socket': return () => this.socket(e);
      case 'bind': return () => {
        const s = sock();
        if (badFd(s)) return errno('EBADF');
        if (a[1] !== undefined && a[1].t !== 'ellipsis') nr('bind to an explicit address is not supported (only ...)');
        if (s.bound) return errno('EINVAL');
        s.bound = true;
        this.syncBound();
        return ok();
      };
      case 'listen': return () => {
        const s = sock();
        if (badFd(s)) return errno('EBADF');
        if (s.conn !== null) return errno('EINVAL');
        if (s.listener !== null) return ok();
        if (!s.bound) nr('listen without bind (ephemeral port) is not supported');
        const backlog = intArg(a[1]) ?? 1;
        const res = this.r.step({ type: 'listen', addr: null, port: SCRIPT_PORT, backlog: Math.max(1, backlog), options: this.options(s) });
        if (!res.ok) return errno(res.code);
        s.listener = res.listener;
        this.sut = s;
        this.awaitingChild = true;
        this.syncBound();
        return ok();
      };
      case 'accept': return () => {
        const s = sock();
        if (badFd(s)) return errno('EBADF');
        if (s.listener === null) return errno('EINVAL');
        const res = this.r.step({ type: 'accept', listener: s.listener });
        if (!res.ok) return errno(res.code);
        if (res.id === null) return s.nonblock ? errno('EWOULDBLOCK') : WOULD_BLOCK;
        const fd = c.ret.t === 'int' && c.ret.v >= 0 ? c.ret.v : this.freeFd();
        const child: Sock = {
          fd, nonblock: false, bound: true, listener: null, conn: res.id, established: true, soError: null,
          created: { ...s.created, ...s.overrides }, overrides: { ...s.overrides }, rdShut: false, wrShut: false, lingerZero: s.lingerZero, soKeepAlive: s.soKeepAlive,
        };
        this.byFd.set(fd, child);
        this.sut = child;
        return ok(fd);
      };
      case 'connect': {
        let started = false;
        return () => {
          const s = sock();
          if (badFd(s)) return errno('EBADF');
          if (!started) {
            started = true;
            if (a[1] !== undefined && a[1].t !== 'ellipsis') nr('connect to an explicit address is not supported (only ...)');
            if (s.listener !== null) return errno('EINVAL');
            if (s.conn !== null) {
              const info = connInfo(this.r.st, s.conn);
              if (info !== null && info.state === 'SYN-SENT') return errno('EALREADY');
              return errno('EISCONN');
            }
            const res = this.r.step({
              type: 'connect', local: this.r.local, localPort: s.bound ? SCRIPT_PORT : null, remote: this.r.remote, port: SCRIPT_PORT,
              options: this.options(s),
            });
            if (!res.ok) return errno(res.code);
            s.conn = res.id;
            this.sut = s;
            this.awaitingChild = false;
            this.syncBound();
            this.r.newConnection(Number(res.id.split('|')[1]), SCRIPT_PORT);
            if (s.nonblock) return errno('EINPROGRESS');
          }
          // Blocking connect: returns when the handshake completes or the connection fails.
          if (s.soError !== null) { const er = s.soError; s.soError = null; return errno(er); }
          if (s.established) return ok();
          const info = s.conn === null ? null : connInfo(this.r.st, s.conn);
          if (info === null) return errno('ECONNREFUSED');
          if (info.state !== 'SYN-SENT' && info.state !== 'SYN-RECEIVED') { s.established = true; return ok(); }
          return WOULD_BLOCK;
        };
      }
      case 'getsockopt': return () => {
        const s = sock();
        if (badFd(s)) return errno('EBADF');
        return this.getsockopt(e, s);
      };
      case 'setsockopt': return () => {
        const s = sock();
        if (badFd(s)) return errno('EBADF');
        return this.setsockopt(e, s);
      };
      case 'fcntl': return () => {
        const s = sock();
        if (badFd(s)) return errno('EBADF');
        const cmd = wordArg(a[1]);
        if (cmd === 'F_GETFL') return ok(O_RDWR | (s.nonblock ? O_NONBLOCK : 0));
        if (cmd === 'F_SETFL') {
          const flags = flagsArg(a[2], { O_RDWR, O_NONBLOCK, O_RDONLY: 0, O_WRONLY: 1 });
          if (flags === null) nr(`fcntl(F_SETFL) flags ${JSON.stringify(a[2])} not understood`);
          s.nonblock = (flags! & O_NONBLOCK) !== 0;
          return ok();
        }
        return nr(`fcntl command ${cmd} is not supported`);
      };
      case 'recv': case 'read': case 'recvfrom': return () => {
        const s = sock();
        if (badFd(s)) return errno('EBADF');
        const len = intArg(a[2]);
        if (len === null) nr(`${c.name}: length argument not understood`);
        let peek = false;
        if (c.name !== 'read') {
          const f = flagsArg(a[3], { MSG_PEEK: 2, MSG_DONTWAIT: 0x80, MSG_WAITALL: 0x40 });
          if (f === null) nr(`${c.name}: flags not understood`);
          if (f! & 0x40) nr('MSG_WAITALL is not supported');
          peek = (f! & 2) !== 0;
          if (f! & 0x80) return this.recv(s, len!, peek, true);
        }
        return this.recv(s, len!, peek, s.nonblock);
      };
      case 'send': case 'write': case 'sendto': return () => {
        const s = sock();
        if (badFd(s)) return errno('EBADF');
        const len = intArg(a[2]);
        if (len === null) nr(`${c.name}: length argument not understood`);
        if (c.name !== 'write') {
          const f = flagsArg(a[3], { MSG_DONTWAIT: 0x80, MSG_NOSIGNAL: 0x20000, MSG_EOR: 0x8 });
          if (f === null) nr(`${c.name}: flags not understood`);
        }
        return this.send(s, len!);
      };
      case 'writev': return () => {
        const s = sock();
        if (badFd(s)) return errno('EBADF');
        // writev(fd, [{..., n1}, {..., n2}], count): the lengths are the last member of each iovec.
        const iov = a[1];
        if (iov?.t !== 'array') return nr('writev: iovec array not understood');
        let len = 0;
        for (const v of iov.items) {
          const n = v.t === 'struct' ? intArg(v.fields[v.fields.length - 1]?.value) : null;
          if (n === null) return nr('writev: iovec length not understood');
          len += n;
        }
        return this.send(s, len);
      };
      case 'shutdown': return () => {
        const s = sock();
        if (badFd(s)) return errno('EBADF');
        const how = wordArg(a[1]) ?? String(intArg(a[1]));
        if (s.conn === null) return errno('ENOTCONN');
        if (how === 'SHUT_RD' || how === '0' || how === 'SHUT_RDWR' || how === '2') s.rdShut = true;
        if (how === 'SHUT_WR' || how === '1' || how === 'SHUT_RDWR' || how === '2') {
          if (s.wrShut) return ok();
          const res = this.r.step({ type: 'shutdown', id: s.conn });
          if (!res.ok) return errno(res.code);
          s.wrShut = true;
        }
        return ok();
      };
      case 'close': return () => {
        const fd = intArg(a[0]);
        const s = fd === null ? undefined : this.byFd.get(fd);
        if (s === undefined) return errno('EBADF');
        this.byFd.delete(s.fd);
        this.syncBound();
        if (s.listener !== null) {
          const res = this.r.step({ type: 'unlisten', listener: s.listener });
          if (!res.ok) return errno(res.code);
        } else if (s.conn !== null) {
          const res = this.r.step({ type: s.lingerZero ? 'abort' : 'close', id: s.conn });
          if (!res.ok && res.code !== 'EBADF') return errno(res.code);
        }
        return ok();
      };
      default: return nr(`system call ${c.name} is not supported by the runner`);
    }
  }

  private freeFd(): number {
    let fd = 3;
    while (this.byFd.has(fd)) fd++;
    return fd;
  }

  /**
   * FreeBSD answers a segment for a port that is bound but not listening from that socket's PCB:
   * the RST carries the socket's TTL and TOS. ferry has no bound-but-idle state; its RSTs for
   * closed ports take TTL and TOS from the stack's socket defaults (StackConfig.tcp), which the
   * runner does not otherwise use (listen and connect pass every option explicitly), so those
   * two fields follow the bound socket while one exists.
   */
  private syncBound(): void {
    let from: TcpSocketConfig = this.r.env.tcp;
    for (const x of this.byFd.values()) if (x.bound && x.listener === null && x.conn === null) from = this.cfgOf(x);
    const st = this.r.st;
    // Its TCP-MD5 key too: FreeBSD signs that RST (the security association covers the host pair).
    const tcp: TcpSocketConfig = { ...st.config.tcp, ttl: from.ttl, tos: from.tos, md5Key: from.md5Key ?? null };
    if (tcp.md5Key === null) delete tcp.md5Key;
    st.config.tcp = tcp;
  }

  /** Socket options passed to listen/connect: the current defaults with this socket's setsockopt overrides. */
  private options(s: Sock): Partial<TcpSocketConfig> {
    const base = this.r.env.tcp;
    // packetdrill's --udp_encapsulation=tcp gives every socket the remote UDP port
    // (TCP_REMOTE_UDP_ENCAPS_PORT); the optional settings are always passed, null when off, so
    // the stack's socket defaults (syncBound) never leak into a socket.
    const udp = this.r.udpPorts();
    const o: Partial<TcpSocketConfig> = { ...base, keepAlive: { ...base.keepAlive }, md5Key: null, udpEncapPort: udp === null ? null : udp.remotePort, ...s.overrides };
    o.keepAlive = { ...base.keepAlive, ...(o.keepAlive ?? {}), enabled: s.soKeepAlive || this.alwaysKeepAlive() };
    return o;
  }

  /**
   * FreeBSD's net.inet.tcp.always_keepalive (default 1) runs the keepalive timer on every
   * connection, SO_KEEPALIVE or not; getsockopt(SO_KEEPALIVE) still reports the socket's flag.
   * The stack's keepAlive.enabled is what runs the timer, so the runner sets it for every socket.
   */
  private alwaysKeepAlive(): boolean {
    return (this.r.env.sysctl['net.inet.tcp.always_keepalive'] ?? 0) !== 0;
  }

  private socket(e: Extract<ScriptEvent, { type: 'syscall' }>): CallResult {
    const [dom, type, proto] = e.call.args;
    const d = dom?.t === 'ellipsis' ? null : wordArg(dom);
    if (d !== null && !['AF_INET', 'AF_INET6', 'PF_INET', 'PF_INET6'].includes(d)) this.r.notRunnable(e, `socket domain ${d} is not supported`);
    if (wordArg(type) !== 'SOCK_STREAM') this.r.notRunnable(e, `socket type ${JSON.stringify(type)} is not supported (TCP only)`);
    if (proto !== undefined && proto.t !== 'ellipsis' && wordArg(proto) !== 'IPPROTO_TCP' && intArg(proto) !== 0) this.r.notRunnable(e, 'only IPPROTO_TCP sockets are supported');
    const fd = e.call.ret.t === 'int' && e.call.ret.v >= 0 ? e.call.ret.v : this.freeFd();
    const base = this.r.env.tcp;
    const s: Sock = {
      fd, nonblock: false, bound: false, listener: null, conn: null, established: false, soError: null,
      created: { ...base, keepAlive: { ...base.keepAlive } }, overrides: {}, rdShut: false, wrShut: false, lingerZero: false, soKeepAlive: false,
    };
    this.byFd.set(fd, s);
    this.sut = s;
    this.awaitingChild = false;
    return ok(fd);
  }

  private cfgOf(s: Sock): TcpSocketConfig {
    if (s.conn !== null) {
      const t = this.r.st.tcp[s.conn];
      if (t !== undefined) return t.cfg;
    }
    return { ...s.created, ...s.overrides };
  }

  private getsockopt(e: Extract<ScriptEvent, { type: 'syscall' }>, s: Sock): CallResult {
    const a = e.call.args;
    const level = wordArg(a[1]), name = wordArg(a[2]);
    const want = a[3];
    const compare = (value: number | string): CallResult => {
      const w = want?.t === 'array' ? want.items[0] : want;
      if (w !== undefined && w.t !== 'ellipsis') {
        const wv = w.t === 'int' ? w.v : w.t === 'word' ? w.v : null;
        const same = typeof value === 'number' ? wv === value || (value === 0 && wv === 'ESUCCESS') : typeof wv === 'string' && sameErrno(wv, value);
        if (!same) this.r.syscallMismatch(e, `getsockopt(${name}) gave ${value}, expected ${wv ?? JSON.stringify(w)}`);
      }
      return ok();
    };
    const cfg = this.cfgOf(s);
    if (level === 'SOL_SOCKET') {
      switch (name) {
        case 'SO_ERROR': {
          const er = s.soError;
          s.soError = null;
          return compare(er ?? 0);
        }
        case 'SO_RCVBUF': return compare(cfg.rcvBuf);
        case 'SO_SNDBUF': return compare(cfg.sndBuf);
        case 'SO_KEEPALIVE': return compare(s.soKeepAlive ? 1 : 0);
        default: break;
      }
    } else if (level === 'IPPROTO_TCP') {
      switch (name) {
        case 'TCP_NODELAY': return compare(cfg.noDelay ? 1 : 0);
        case 'TCP_KEEPIDLE': return compare(Math.floor(cfg.keepAlive.idle / 1000));
        case 'TCP_KEEPINTVL': return compare(Math.floor(cfg.keepAlive.interval / 1000));
        case 'TCP_KEEPCNT': return compare(cfg.keepAlive.count);
        case 'TCP_KEEPINIT': return compare(cfg.connectTimeout === null ? 0 : Math.floor(cfg.connectTimeout / 1000));
        case 'TCP_NOOPT': return compare(cfg.noOptions ? 1 : 0);
        case 'TCP_MAXSEG': {
          const info = s.conn === null ? null : connInfo(this.r.st, s.conn);
          if (info === null) break;
          return compare(info.mss);
        }
        default: break;
      }
    } else if (level === 'IPPROTO_IP' || level === 'IPPROTO_IPV6') {
      switch (name) {
        case 'IP_TTL': case 'IPV6_UNICAST_HOPS': return compare(cfg.ttl ?? this.r.st.config.ttl);
        case 'IP_TOS': case 'IPV6_TCLASS': return compare(cfg.tos);
        default: break;
      }
    }
    return this.r.notRunnable(e, `getsockopt ${level} ${name} is not supported`);
  }

  private setsockopt(e: Extract<ScriptEvent, { type: 'syscall' }>, s: Sock): CallResult {
    const a = e.call.args;
    const level = wordArg(a[1]), name = wordArg(a[2]);
    const v = a[3]?.t === 'array' ? a[3].items[0] : a[3];
    const num = intArg(v);
    const set = (o: Partial<TcpSocketConfig>): CallResult => {
      Object.assign(s.overrides, o);
      if (s.conn !== null) {
        const res = this.r.step({ type: 'set-option', id: s.conn, options: o });
        if (!res.ok) return errno(res.code);
      }
      this.syncBound();
      return ok();
    };
    const keep = (k: 'idle' | 'interval' | 'count' | 'enabled', x: number | boolean) => {
      if (k === 'enabled') s.soKeepAlive = x === true;
      const ka = { ...this.cfgOf(s).keepAlive, [k]: x, enabled: s.soKeepAlive || this.alwaysKeepAlive() };
      return set({ keepAlive: ka });
    };
    if (level === 'SOL_SOCKET') {
      switch (name) {
        case 'SO_REUSEADDR': case 'SO_REUSEPORT': return ok(); // ferry's listen does not conflict with TIME-WAIT 4-tuples
        case 'SO_RCVBUF': case 'SO_SNDBUF': {
          if (num === null) break;
          const max = this.r.env.sysctl['kern.ipc.maxsockbuf'] ?? 2097152;
          if (num > max) return errno('ENOBUFS');
          return set(name === 'SO_RCVBUF' ? { rcvBuf: num } : { sndBuf: num });
        }
        case 'SO_KEEPALIVE': if (num === null) break; return keep('enabled', num !== 0);
        case 'SO_LINGER': {
          const st = a[3];
          if (st?.t !== 'struct') break;
          const on = intArg(st.fields.find((f) => f.name === 'onoff')?.value), lg = intArg(st.fields.find((f) => f.name === 'linger')?.value);
          if (on === 1 && lg === 0) { s.lingerZero = true; return ok(); }
          if (on === 0) { s.lingerZero = false; return ok(); }
          break;
        }
        default: break;
      }
    } else if (level === 'IPPROTO_TCP') {
      switch (name) {
        case 'TCP_NODELAY': if (num === null) break; return set({ noDelay: num !== 0 });
        case 'TCP_KEEPIDLE': if (num === null) break; return keep('idle', num * 1000);
        case 'TCP_KEEPINTVL': if (num === null) break; return keep('interval', num * 1000);
        case 'TCP_KEEPCNT': if (num === null) break; return keep('count', num);
        case 'TCP_MAXSEG': if (num === null) break; return set({ mss: num });
        // Seconds; 0 turns the connection-establishment timeout off.
        case 'TCP_KEEPINIT': if (num === null) break; return set({ connectTimeout: num > 0 ? num * 1000 : null });
        case 'TCP_NOOPT': if (num === null) break; return set({ noOptions: num !== 0 });
        // RFC 2385 signatures with the script's --tcp_md5_secret (the key its setkey(8) init command installs).
        case 'TCP_MD5SIG':
          if (num === null) break;
          if (num !== 0 && this.r.md5Secret === null) return this.r.notRunnable(e, 'TCP_MD5SIG without --tcp_md5_secret');
          return set({ md5Key: num !== 0 ? this.r.md5Secret : null });
        default:
          // Options of FreeBSD's alternative RACK stack (tcp_rack): the default stack, like ferry,
          // refuses them; the call's result is then judged as written (fatal unless --non_fatal=syscall).
          if (name !== null && name.startsWith('TCP_RACK_')) return errno('ENOPROTOOPT');
          break;
      }
    } else if (level === 'IPPROTO_IP' || level === 'IPPROTO_IPV6') {
      const byte = num ?? tosName(v);
      switch (name) {
        case 'IP_TTL': case 'IPV6_UNICAST_HOPS':
          if (byte === null || byte < -1 || byte > 255) break;
          // -1: the system default (RFC 3493 §5.1 for IPV6_UNICAST_HOPS).
          return set({ ttl: byte === -1 ? null : byte });
        case 'IP_TOS': case 'IPV6_TCLASS':
          if (byte === null || byte < -1 || byte > 255) break;
          return set({ tos: byte === -1 ? 0 : byte });
        default: break;
      }
    }
    return this.r.notRunnable(e, `setsockopt ${level} ${name} has no ferry equivalent`);
  }

  private recv(s: Sock, len: number, peek: boolean, nonblock: boolean): CallResult | null {
    if (s.conn === null) return errno('ENOTCONN');
    const info = connInfo(this.r.st, s.conn);
    const avail = info?.rcvBufUsed ?? 0;
    if (avail > 0 && !s.rdShut) {
      if (peek) return ok(Math.min(len, avail));
      const res = this.r.step({ type: 'recv', id: s.conn, max: len });
      if (!res.ok) return errno(res.code);
      return ok(res.data.length);
    }
    // FreeBSD soreceive: a pending error is reported when no data is buffered.
    if (s.soError !== null) {
      const er = s.soError;
      if (!peek) s.soError = null;
      return errno(er);
    }
    if (s.rdShut) return ok(0);
    if (info === null) return s.established ? ok(0) : errno('ENOTCONN');
    // The peer's FIN has been processed: end of stream.
    if (info.state === 'CLOSE-WAIT' || info.state === 'LAST-ACK' || info.state === 'CLOSING' || info.state === 'TIME-WAIT' || info.state === 'CLOSED') {
      if (!peek) this.r.step({ type: 'recv', id: s.conn, max: len });
      return ok(0);
    }
    return nonblock ? errno('EWOULDBLOCK') : WOULD_BLOCK;
  }

  private send(s: Sock, len: number): CallResult | null {
    if (s.soError !== null) { const er = s.soError; s.soError = null; return errno(er); }
    if (s.conn === null) return errno('ENOTCONN');
    if (s.wrShut) return errno('EPIPE');
    const res = this.r.step({ type: 'send', id: s.conn, data: new Uint8Array(len) });
    if (!res.ok) return errno(res.code);
    if (res.bytes === len || len === 0) return ok(res.bytes);
    if (res.bytes > 0 || s.nonblock) return res.bytes > 0 ? ok(res.bytes) : errno('EWOULDBLOCK');
    return WOULD_BLOCK;
  }

  // ------------------------------------------------------------------------ commands and code

  command(e: Extract<ScriptEvent, { type: 'command' }>): void {
    const cmd = e.command.trim();
    const m = /^sysctl\s+-w\s+([A-Za-z0-9_.]+)=(-?\d+)$/.exec(cmd);
    if (m !== null) {
      const why = applySysctl(this.r.env, m[1]!, Number(m[2]));
      if (why !== null) this.r.notRunnable(e, why);
      this.r.syncStackConfig();
      return;
    }
    if (/^sockstat\b/.test(cmd)) { this.sockstat(e, cmd); return; }
    const td = /^tcpdrop\s+-s\s+([A-Z_0-9]+)$/.exec(cmd);
    if (td !== null) {
      for (const id of listConnections(this.r.st)) {
        const info = connInfo(this.r.st, id);
        if (info !== null && FREEBSD_STATE[info.state] === td[1]) this.r.step({ type: 'abort', id });
      }
      return;
    }
    this.r.notRunnable(e, `shell command \`${cmd.length > 60 ? `${cmd.slice(0, 60)}...` : cmd}\` is not supported`);
  }

  /**
   * `sockstat -4|-6 -P tcp [-p PORT] -s | grep ... | grep -c STATE | grep N`: the table FreeBSD's
   * sockstat would print for this host, filtered through the greps. Sockets of open fds are
   * owned by "packetdrill"; connections no fd holds (accept queue, closed by the app) are not.
   */
  private sockstat(e: ScriptEvent, cmd: string): void {
    const parts = cmd.split('|').map((p) => p.trim());
    const head = parts.shift()!.split(/\s+/);
    let fam: 4 | 6 | null = null, port: number | null = null;
    for (let i = 1; i < head.length; i++) {
      const w = head[i]!;
      if (w === '-4') fam = 4;
      else if (w === '-6') fam = 6;
      else if (w === '-p') port = Number(head[++i]);
      else if (w === '-P') { if (head[++i] !== 'tcp') this.r.notRunnable(e, 'sockstat for a protocol other than tcp'); }
      else if (w !== '-s') this.r.notRunnable(e, `sockstat option ${w} is not supported`);
    }
    const rows: { owned: boolean; lport: number; fport: number; state: string }[] = [];
    const held = new Set<ConnId>();
    for (const s of this.byFd.values()) {
      if (s.listener !== null) { rows.push({ owned: true, lport: SCRIPT_PORT, fport: 0, state: 'LISTEN' }); continue; }
      if (s.conn === null) { rows.push({ owned: true, lport: s.bound ? SCRIPT_PORT : 0, fport: 0, state: 'CLOSED' }); continue; }
      held.add(s.conn);
      const info = connInfo(this.r.st, s.conn);
      const [, lp, , rp] = s.conn.split('|');
      rows.push({ owned: true, lport: Number(lp), fport: Number(rp), state: info === null ? 'CLOSED' : FREEBSD_STATE[info.state] });
    }
    for (const id of listConnections(this.r.st)) {
      if (held.has(id)) continue;
      const info = connInfo(this.r.st, id);
      if (info === null) continue;
      rows.push({ owned: false, lport: info.localPort, fport: info.remotePort, state: FREEBSD_STATE[info.state] });
    }
    const ourFam = this.r.v6 ? 6 : 4;
    let lines = rows
      .filter(() => fam === null || fam === ourFam)
      .filter((x) => port === null || x.lport === port || x.fport === port)
      .map((x) => `${x.owned ? 'root packetdrill 4242 3' : '? ? ? ?'} tcp${ourFam} ${this.r.local}:${x.lport} ${this.r.remote}:${x.fport} ${x.state}`);
    for (const p of parts) {
      const g = /^grep\s+(-c\s+)?(\S+)$/.exec(p);
      if (g === null) this.r.notRunnable(e, `sockstat pipeline stage '${p}' is not supported`);
      const pat = g![2]!;
      const matched = lines.filter((l) => l.includes(pat));
      lines = g![1] !== undefined ? [String(matched.length)] : matched;
    }
    if (lines.length === 0) {
      this.r.fail(e, `command failed: sockstat shows ${rows.map((x) => `${x.state}(${x.lport}-${x.fport}${x.owned ? '' : ', no fd'})`).join(', ') || 'no sockets'}`);
    }
  }

  /** `%{ assert tcpi_state == TCPI_X }%` and `assert tcpi_options == ...` on the socket under test. */
  code(e: Extract<ScriptEvent, { type: 'code' }>): void {
    const src = e.code.trim();
    const m = /^assert\s+(tcpi_state|tcpi_options)\s*==\s*(.+)$/.exec(src);
    if (m === null) this.r.notRunnable(e, `code '${src.slice(0, 60)}' is not supported (only assert tcpi_state/tcpi_options == ...)`);
    const s = this.sut;
    const info = s?.conn ? connInfo(this.r.st, s.conn) : null;
    if (m![1] === 'tcpi_state') {
      const want = m![2]!.trim();
      const state = s === null ? 'CLOSED' : s.listener !== null ? 'LISTEN' : info === null ? 'CLOSED' : info.state;
      const got = `TCPI_${state.replace(/-/g, '_').replace('SYN_RECEIVED', 'SYN_RECEIVED')}`;
      if (got !== want) this.r.fail(e, `tcpi_state is ${got}`);
      return;
    }
    const bits: Record<string, number> = { TCPI_OPT_TIMESTAMPS: 1, TCPI_OPT_SACK: 2, TCPI_OPT_WSCALE: 4, TCPI_OPT_ECN: 8, TCPI_OPT_TOE: 16 };
    let want = 0;
    for (const tok of m![2]!.replace(/[()]/g, ' ').split('|').map((x) => x.trim())) {
      if (/^\d+$/.test(tok)) want |= Number(tok);
      else if (bits[tok] !== undefined) want |= bits[tok]!;
      else this.r.notRunnable(e, `unknown tcpi_options term ${tok}`);
    }
    const ecn = s?.conn ? (this.r.st.tcp[s.conn]?.ecn ?? null) !== null : false;
    const got = info === null ? 0 : (info.tsOk ? 1 : 0) | (info.sackOk ? 2 : 0) | (info.sndWscale > 0 || info.rcvWscale > 0 ? 4 : 0) | (ecn ? 8 : 0);
    if (got !== want) this.r.fail(e, `tcpi_options is ${got}`);
  }
}

function intArg(x: Expr | undefined): number | null {
  if (x === undefined) return null;
  if (x.t === 'int') return x.v;
  if (x.t === 'array' && x.items.length === 1) return intArg(x.items[0]);
  return null;
}

/** FreeBSD's <netinet/ip.h> TOS names: IPTOS_DSCP_CSn = n << 5, AFxy, EF, and the RFC 1349 bits. */
function tosName(x: Expr | undefined): number | null {
  const w = x?.t === 'array' && x.items.length === 1 ? wordArg(x.items[0]) : wordArg(x);
  if (w === null) return null;
  let m = /^IPTOS_DSCP_CS([0-7])$/.exec(w);
  if (m !== null) return Number(m[1]) << 5;
  m = /^IPTOS_DSCP_AF([1-4])([1-3])$/.exec(w);
  if (m !== null) return ((Number(m[1]) << 3) | (Number(m[2]) << 1)) << 2;
  const named: Record<string, number> = { IPTOS_DSCP_EF: 0xb8, IPTOS_LOWDELAY: 0x10, IPTOS_THROUGHPUT: 0x08, IPTOS_RELIABILITY: 0x04, IPTOS_MINCOST: 0x02 };
  return named[w] ?? null;
}

function wordArg(x: Expr | undefined): string | null {
  return x !== undefined && x.t === 'word' ? x.v : null;
}

/** `O_RDWR | O_NONBLOCK` style flag expressions (or a number). */
function flagsArg(x: Expr | undefined, names: Record<string, number>): number | null {
  if (x === undefined) return 0;
  if (x.t === 'int') return x.v;
  if (x.t === 'word') return names[x.v] ?? null;
  if (x.t === 'or') {
    let v = 0;
    for (const i of x.items) {
      const f = flagsArg(i, names);
      if (f === null) return null;
      v |= f;
    }
    return v;
  }
  return null;
}
