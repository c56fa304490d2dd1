// Test rigs for the built-in services: a client Host and two server Hosts answering as the
// same service address over memlinks (the client's link switches from A to B at a move), an
// SCTP equivalent, and a small HTTP/1.1 response reader that follows pipelined responses on
// one socket and reports body progress (tests trigger moves from it).
import { createHash } from 'node:crypto';
import { Host } from '../../../tun/driver.ts';
import { MemLinkEnd, memLinkPair } from '../../../tun/memlink.ts';
import type { Socket } from '../../../tun/net.ts';
import { SctpHost, createServer as sctpCreateServer, type Association } from '../../../tun/sctp-socket.ts';
import { ReplayGuard } from '../../../migrate/envelope.ts';
import type { FerryService, SctpAppConn, ServiceConfig, ServiceContext, TcpAppConn } from '../../../migrate/node-types.ts';

export const CLIENT = '10.9.7.1', SERVICE = '10.9.7.2';

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export function svcConfig(o: Partial<ServiceConfig> & Pick<ServiceConfig, 'type'>): ServiceConfig {
  return { name: `t-${o.type}`, proto: 'tcp', port: 80, root: null, module: null, options: {}, replication: null, ...o };
}

/** A context whose log is kept (tests read it). */
export function svcContext(node: string): ServiceContext & { records: { event: string; fields: Record<string, unknown> }[] } {
  const records: { event: string; fields: Record<string, unknown> }[] = [];
  return { node, records, log: (event, fields = {}) => { records.push({ event, fields }); } };
}

export interface TcpRig {
  client: Host; a: Host; b: Host;
  /** Connections the service on A accepted, in order. */
  accepted: TcpAppConn[];
  guardB: ReplayGuard; guardA: ReplayGuard;
  /** Point the client's link at B / back at A. */
  toB(): void; toA(): void;
  connect(): Promise<Socket>;
  close(): void;
}

/** Hosts client ↔ A (service `svcA` on `port`), and B on a detached link end. */
export async function tcpRig(svcA: FerryService, port = 80): Promise<TcpRig> {
  const [cEnd, aEnd] = memLinkPair();
  const bEnd = new MemLinkEnd(1, {});
  const client = new Host({ addresses: [CLIENT], link: cEnd, secret: new Uint8Array(32).fill(1) });
  const a = new Host({ addresses: [SERVICE], link: aEnd, secret: new Uint8Array(32).fill(2) });
  const b = new Host({ addresses: [SERVICE], link: bEnd, secret: new Uint8Array(32).fill(3) });
  const accepted: TcpAppConn[] = [];
  const server = a.createServer((socket) => {
    const conn: TcpAppConn = { proto: 'tcp', id: socket.id!, socket, remote: socket.remoteAddress!, remotePort: socket.remotePort!, resumed: false, state: null };
    accepted.push(conn);
    svcA.onConnection(conn);
  });
  server.listen(port, SERVICE);
  await new Promise((r) => server.once('listening', r));
  return {
    client, a, b, accepted, guardA: new ReplayGuard(), guardB: new ReplayGuard(),
    toB: () => { cEnd.peer = bEnd; bEnd.peer = cEnd; },
    toA: () => { cEnd.peer = aEnd; aEnd.peer = cEnd; },
    connect: async () => {
      const s = client.connect({ host: SERVICE, port });
      await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
      return s;
    },
    close: () => { server.close(); client.close(); a.close(); b.close(); },
  };
}

export interface SctpRig {
  client: SctpHost; a: SctpHost; b: SctpHost;
  accepted: SctpAppConn[];
  guardB: ReplayGuard;
  toB(): void;
  close(): void;
}

export async function sctpRig(svcA: FerryService, port = 7): Promise<SctpRig> {
  const [cEnd, aEnd] = memLinkPair();
  const bEnd = new MemLinkEnd(1, {});
  const client = new SctpHost({ addresses: [CLIENT], link: cEnd, secret: new Uint8Array(32).fill(4) });
  const a = new SctpHost({ addresses: [SERVICE], link: aEnd, secret: new Uint8Array(32).fill(5) });
  const b = new SctpHost({ addresses: [SERVICE], link: bEnd, secret: new Uint8Array(32).fill(6) });
  const accepted: SctpAppConn[] = [];
  const server = sctpCreateServer(a, { port }, (assoc: Association) => {
    const conn: SctpAppConn = { proto: 'sctp', id: assoc.id!, assoc, remote: assoc.remoteAddresses[0] ?? '', remotePort: assoc.remotePort ?? 0, resumed: false, state: null };
    accepted.push(conn);
    svcA.onConnection(conn);
  });
  await new Promise((r) => server.once('listening', r));
  return {
    client, a, b, accepted, guardB: new ReplayGuard(),
    toB: () => { cEnd.peer = bEnd; bEnd.peer = cEnd; },
    close: () => { server.close(); client.close(); a.close(); b.close(); },
  };
}

export interface HttpResponse { status: number; headers: Record<string, string>; body: Uint8Array }

interface Waiter {
  head: boolean;
  onBody: ((received: number) => void) | null;
  resolve: (r: HttpResponse) => void;
  reject: (e: Error) => void;
}

/** Reads HTTP/1.1 responses (Content-Length framed) off one socket, in request order. */
export class HttpReader {
  closed = false;
  /** Bytes that arrived with no response expected. */
  extra = 0;
  readonly ended: Promise<void>;
  private waiters: Waiter[] = [];
  private headBuf = new Uint8Array(0);
  private cur: { w: Waiter; status: number; headers: Record<string, string>; chunks: Uint8Array[]; got: number; left: number } | null = null;

  constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => this.onData(new Uint8Array(d)));
    this.ended = new Promise((resolve) => {
      const fin = (): void => {
        if (this.closed) return;
        this.closed = true;
        const c = this.cur;
        for (const w of this.waiters.splice(0)) w.reject(new Error(`connection closed (${c !== null && c.w === w ? `after ${c.got} body bytes` : 'no response'})`));
        resolve();
      };
      socket.once('end', fin);
      socket.once('close', fin);
      socket.on('error', () => fin());
    });
  }

  /** Send raw request bytes. */
  send(req: string | Uint8Array): void { this.socket.write(req); }

  /** GET/HEAD `path` (HTTP/1.1 with Host). */
  request(path: string, o: { method?: string; headers?: string[]; onBody?: (n: number) => void } = {}): Promise<HttpResponse> {
    const method = o.method ?? 'GET';
    const p = this.expect({ head: method === 'HEAD', onBody: o.onBody });
    this.send(`${method} ${path} HTTP/1.1\r\nHost: svc\r\n${(o.headers ?? []).map((h) => `${h}\r\n`).join('')}\r\n`);
    return p;
  }

  /** The next response (for requests sent by hand). */
  expect(o: { head?: boolean; onBody?: ((n: number) => void) | undefined } = {}): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      if (this.closed) { reject(new Error('connection closed')); return; }
      this.waiters.push({ head: o.head ?? false, onBody: o.onBody ?? null, resolve, reject });
    });
  }

  private onData(d: Uint8Array): void {
    while (d.length > 0) {
      if (this.cur === null) {
        const w = this.waiters[0];
        if (w === undefined) { this.extra += d.length; return; }
        const all = new Uint8Array(this.headBuf.length + d.length);
        all.set(this.headBuf); all.set(d, this.headBuf.length);
        const text = Buffer.from(all).toString('latin1');
        const end = text.indexOf('\r\n\r\n');
        if (end < 0) { this.headBuf = all; return; }
        this.headBuf = new Uint8Array(0);
        const lines = text.slice(0, end).split('\r\n');
        const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0] ?? '')?.[1] ?? 0);
        const headers: Record<string, string> = {};
        for (const l of lines.slice(1)) { const c = l.indexOf(':'); headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim(); }
        const len = w.head ? 0 : Number(headers['content-length'] ?? 0);
        this.cur = { w, status, headers, chunks: [], got: 0, left: len };
        d = all.subarray(end + 4);
      } else {
        const c = this.cur;
        const n = Math.min(c.left, d.length);
        c.chunks.push(d.slice(0, n));
        c.got += n; c.left -= n;
        d = d.subarray(n);
        c.w.onBody?.(c.got);
      }
      const c = this.cur;
      if (c !== null && c.left === 0) {
        this.cur = null;
        this.waiters.shift();
        const body = new Uint8Array(c.got);
        let o = 0;
        for (const p of c.chunks) { body.set(p, o); o += p.length; }
        c.w.resolve({ status: c.status, headers: c.headers, body });
      }
    }
  }
}

/** Reject after `ms` unless `p` settles first. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, rej) => { t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms); })]).finally(() => clearTimeout(t));
}
