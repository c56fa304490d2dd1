// The hand-over link: a framed, authenticated channel between two nodes' hand-over addresses,
// over one kernel TCP connection (node:net). It carries snapshots (sealed envelopes,
// envelope.ts), packets redirected to where a connection went while the service address still
// points at the old node, acknowledgements, and control messages (the HA node's switch-over
// protocol, migrate/node.ts: UTF-8 JSON).
//
// Frame: u32 length (bytes after this field) | u8 type | u32 seq | payload | 32-byte MAC
//   MAC = HMAC-SHA-256(K, length | type | seq | payload), K per direction (below).
//
// Session: each side sends HELLO first (type 1, seq 0, payload: u8 version, u8 role
// (0 initiator = the side that connected, 1 responder), 16-byte random nonce, name), MACed
// with K_hello = HMAC(clusterKey, 'ferry handover hello v1'). A hello with the wrong role (our
// own, reflected) or a bad MAC ends the link. Both nonces then key the session:
//   K_i2r = HMAC(clusterKey, 'ferry handover i2r v1' | nonce_i | nonce_r), K_r2i likewise,
// so frames recorded from another session never verify here. Data frames are numbered 1, 2,
// 3... per direction; the receiver takes exactly the next number: a smaller one is a replay, a
// larger one a dropped or reordered frame, and either ends the link. The length is checked
// before a frame is buffered (maxFrame), so garbage cannot make us allocate; every refusal is
// a HandoverError with a code, delivered as the link's 'close' event, never thrown at the
// event loop.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { hmac, macEqual } from './envelope.ts';

export const FRAME_TYPES = { hello: 1, snapshot: 2, packet: 3, ack: 4, control: 5 } as const;
export type FrameType = keyof typeof FRAME_TYPES;
const TYPE_NAMES: Record<number, FrameType> = { 1: 'hello', 2: 'snapshot', 3: 'packet', 4: 'ack', 5: 'control' };
const HANDOVER_VERSION = 1;
const MAC_LEN = 32;
const MIN_LEN = 1 + 4 + MAC_LEN;
/** Default bound on one frame (a snapshot with full buffers fits easily). */
export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024;

export interface Frame { type: FrameType; seq: number; payload: Uint8Array }

export type HandoverErrorCode =
  | 'bad-length' | 'bad-type' | 'bad-mac' | 'replayed' | 'reordered' | 'bad-hello' | 'unexpected'
  | 'timeout' | 'closed' | 'socket';

export class HandoverError extends Error {
  override name = 'HandoverError';
  constructor(readonly code: HandoverErrorCode, message: string) { super(`hand-over link: ${message}`); }
}

const te = new TextEncoder();
const td = new TextDecoder('utf-8', { fatal: true });

export interface SessionOptions {
  /** Cluster key (>= 16 bytes). */
  key: Uint8Array;
  /** This node's name (shown to the peer; <= 255 bytes UTF-8). */
  name: string;
  /** True on the side that connected. */
  initiator: boolean;
  maxFrame?: number;
  /** 16-byte nonce (default: random); tests fix it. */
  nonce?: Uint8Array;
}

/**
 * The link's protocol without a socket: feed received bytes in, get verified frames out (or a
 * HandoverError); encode frames to send. HandoverLink runs one over a net.Socket.
 */
export class HandoverSession {
  readonly initiator: boolean;
  readonly maxFrame: number;
  peerName: string | null = null;
  private readonly key: Uint8Array;
  private readonly nonce: Uint8Array;
  private readonly helloKey: Uint8Array;
  private sendKey: Uint8Array | null = null;
  private recvKey: Uint8Array | null = null;
  private sendSeq = 1;
  private recvSeq = 1;
  /** Received bytes not yet parsed (the frame in progress), and how many the next parse needs. */
  private parts: Uint8Array[] = [];
  private partsLen = 0;
  private need = 4;
  private dead: HandoverError | null = null;
  private readonly name: Uint8Array;

  constructor(o: SessionOptions) {
    if (o.key.length < 16) throw new RangeError('hand-over: cluster key must be at least 16 bytes');
    this.key = o.key;
    this.initiator = o.initiator;
    this.maxFrame = o.maxFrame ?? DEFAULT_MAX_FRAME;
    this.nonce = o.nonce ?? new Uint8Array(randomBytes(16));
    if (this.nonce.length !== 16) throw new RangeError('hand-over: nonce must be 16 bytes');
    this.name = te.encode(o.name);
    if (this.name.length > 255) throw new RangeError('hand-over: name longer than 255 bytes');
    this.helloKey = hmac(this.key, te.encode('ferry handover hello v1'));
  }

  /** Both hellos exchanged: data frames may flow. */
  get established(): boolean { return this.recvKey !== null; }

  /** Our HELLO frame (send it first). */
  hello(): Uint8Array {
    const p = new Uint8Array(2 + 16 + this.name.length);
    p[0] = HANDOVER_VERSION;
    p[1] = this.initiator ? 0 : 1;
    p.set(this.nonce, 2);
    p.set(this.name, 18);
    return frameBytes(this.helloKey, FRAME_TYPES.hello, 0, p);
  }

  /** A data frame. Throws (programmer error) before the session is established or when too large. */
  encode(type: Exclude<FrameType, 'hello'>, payload: Uint8Array): Uint8Array {
    if (this.sendKey === null) throw new Error('hand-over: session not established yet');
    if (MIN_LEN + payload.length > this.maxFrame) throw new RangeError(`hand-over: frame of ${payload.length} bytes exceeds maxFrame ${this.maxFrame}`);
    return frameBytes(this.sendKey, FRAME_TYPES[type], this.sendSeq++, payload);
  }

  /** Bytes from the wire: every complete, verified frame (the hello is consumed here, not returned). Throws HandoverError. */
  receive(chunk: Uint8Array): Frame[] {
    if (this.dead !== null) throw this.dead;
    try {
      return this.parse(chunk);
    } catch (e) {
      if (e instanceof HandoverError) this.dead = e;
      throw e;
    }
  }

  private parse(chunk: Uint8Array): Frame[] {
    // Chunks are collected until the frame in progress is complete (its length is known from
    // its header), then joined once: a 1 MB frame arriving in 64 KB reads costs one copy, not 16.
    this.parts.push(chunk);
    this.partsLen += chunk.length;
    if (this.partsLen < this.need) {
      // Kept across reads: an owned copy (the caller's buffer may be reused).
      this.parts[this.parts.length - 1] = chunk.slice();
      return [];
    }
    let buf: Uint8Array;
    if (this.parts.length === 1) buf = this.parts[0]!;
    else {
      buf = new Uint8Array(this.partsLen);
      let o = 0;
      for (const p of this.parts) { buf.set(p, o); o += p.length; }
    }
    const out: Frame[] = [];
    let off = 0;
    this.need = 4;
    while (buf.length - off >= 4) {
      const dv = new DataView(buf.buffer, buf.byteOffset + off);
      const len = dv.getUint32(0);
      if (len < MIN_LEN || len > this.maxFrame) throw new HandoverError('bad-length', `frame length ${len} outside [${MIN_LEN}, ${this.maxFrame}]`);
      if (buf.length - off < 4 + len) { this.need = 4 + len; break; }
      const f = buf.subarray(off, off + 4 + len);
      off += 4 + len;
      const frame = this.verify(f, len);
      if (frame !== null) out.push(frame);
    }
    const rest = off === buf.length ? null : buf.slice(off);
    this.parts = rest === null ? [] : [rest];
    this.partsLen = rest === null ? 0 : rest.length;
    return out;
  }

  private verify(f: Uint8Array, len: number): Frame | null {
    const typeNum = f[4]!;
    const type = TYPE_NAMES[typeNum];
    if (type === undefined) {
      // Unknown types are refused only once the MAC says the peer really sent them (below).
    }
    const seq = new DataView(f.buffer, f.byteOffset + 5, 4).getUint32(0);
    const body = f.subarray(0, 4 + len - MAC_LEN);
    const mac = f.subarray(4 + len - MAC_LEN);
    if (this.recvKey === null) {
      if (type !== 'hello') throw new HandoverError('unexpected', `${type ?? `type ${typeNum}`} frame before the hello`);
      if (!macEqual(hmac(this.helloKey, body), mac)) throw new HandoverError('bad-mac', 'hello MAC does not verify (wrong cluster key?)');
      if (seq !== 0) throw new HandoverError('bad-hello', `hello with sequence number ${seq}`);
      const p = f.subarray(9, 4 + len - MAC_LEN);
      if (p.length < 18 || p[0] !== HANDOVER_VERSION) throw new HandoverError('bad-hello', `unsupported hello (version ${p[0] ?? 'none'})`);
      const role = p[1];
      if (role !== (this.initiator ? 1 : 0)) throw new HandoverError('bad-hello', 'hello from the wrong role (a reflected hello?)');
      const theirs = p.slice(2, 18);
      try { this.peerName = td.decode(p.subarray(18)); } catch { throw new HandoverError('bad-hello', 'peer name is not UTF-8'); }
      const ni = this.initiator ? this.nonce : theirs, nr = this.initiator ? theirs : this.nonce;
      const i2r = hmac(this.key, te.encode('ferry handover i2r v1'), ni, nr);
      const r2i = hmac(this.key, te.encode('ferry handover r2i v1'), ni, nr);
      this.sendKey = this.initiator ? i2r : r2i;
      this.recvKey = this.initiator ? r2i : i2r;
      return null;
    }
    if (!macEqual(hmac(this.recvKey, body), mac)) throw new HandoverError('bad-mac', `frame ${seq}: MAC does not verify`);
    if (type === undefined || type === 'hello') throw new HandoverError(type === 'hello' ? 'unexpected' : 'bad-type', type === 'hello' ? 'second hello' : `unknown frame type ${typeNum}`);
    if (seq < this.recvSeq) throw new HandoverError('replayed', `frame ${seq} replayed (expected ${this.recvSeq})`);
    if (seq > this.recvSeq) throw new HandoverError('reordered', `frame ${seq} arrived before ${this.recvSeq} (dropped or reordered)`);
    this.recvSeq++;
    return { type, seq, payload: f.slice(9, 4 + len - MAC_LEN) };
  }
}

function frameBytes(key: Uint8Array, type: number, seq: number, payload: Uint8Array): Uint8Array {
  const len = 1 + 4 + payload.length + MAC_LEN;
  const out = new Uint8Array(4 + len);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, len);
  out[4] = type;
  dv.setUint32(5, seq >>> 0);
  out.set(payload, 9);
  out.set(hmac(key, out.subarray(0, 9 + payload.length)), 9 + payload.length);
  return out;
}

// ------------------------------------------------------------------------------ ack payload

export interface Ack { ok: boolean; id: Uint8Array; message: string }

/** An ACK frame's payload: u8 status (0 accepted, 1 refused), 16-byte snapshot id, UTF-8 message. */
export function encodeAck(a: Ack): Uint8Array {
  const m = te.encode(a.message);
  const out = new Uint8Array(17 + m.length);
  out[0] = a.ok ? 0 : 1;
  out.set(a.id.subarray(0, 16), 1);
  out.set(m, 17);
  return out;
}

export function decodeAck(p: Uint8Array): Ack | null {
  if (p.length < 17 || p[0]! > 1) return null;
  try { return { ok: p[0] === 0, id: p.slice(1, 17), message: td.decode(p.subarray(17)) }; } catch { return null; }
}

// ------------------------------------------------------------------------------ over a socket

export interface LinkOptions {
  key: Uint8Array;
  name: string;
  maxFrame?: number;
  /** The hello exchange must finish within this (ms). */
  helloTimeoutMs?: number;
}

/**
 * A hand-over session over a net.Socket. Events: 'frame' (Frame), 'close' (HandoverError |
 * null). No 'error' event: every failure closes the link and is reported by 'close'.
 */
export class HandoverLink extends EventEmitter {
  readonly session: HandoverSession;
  private closed = false;
  private timer: NodeJS.Timeout | null;
  /** Frames that arrived before anyone listened for them (e.g. with the hello, before ready() resolved). */
  private early: Frame[] = [];

  constructor(readonly socket: net.Socket, initiator: boolean, o: LinkOptions) {
    super();
    this.on('newListener', (ev: string) => {
      if (ev !== 'frame' || this.early.length === 0) return;
      queueMicrotask(() => {
        const q = this.early;
        this.early = [];
        for (const f of q) this.emit('frame', f);
      });
    });
    this.session = new HandoverSession({ key: o.key, name: o.name, initiator, maxFrame: o.maxFrame });
    socket.setNoDelay(true);
    this.timer = setTimeout(() => this.fail(new HandoverError('timeout', 'no hello within the timeout')), o.helloTimeoutMs ?? 5000);
    socket.on('data', (d: Buffer) => {
      let frames: Frame[];
      const wasUp = this.session.established;
      try {
        frames = this.session.receive(new Uint8Array(d.buffer, d.byteOffset, d.length));
      } catch (e) {
        this.fail(e instanceof HandoverError ? e : new HandoverError('socket', String(e)));
        return;
      }
      if (!wasUp && this.session.established) {
        if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
        this.emit('ready', this.session.peerName);
      }
      for (const f of frames) {
        if (this.listenerCount('frame') === 0 || this.early.length > 0) this.early.push(f);
        else this.emit('frame', f);
      }
    });
    socket.on('error', (e) => this.fail(new HandoverError('socket', e.message)));
    socket.on('close', () => this.fail(null));
    socket.write(this.session.hello());
  }

  get peerName(): string | null { return this.session.peerName; }
  get established(): boolean { return this.session.established; }

  /** Resolves once both hellos are exchanged; rejects if the link closes first. */
  ready(): Promise<string> {
    if (this.session.established) return Promise.resolve(this.session.peerName ?? '');
    return new Promise((resolve, reject) => {
      const onReady = (name: string) => { this.off('close', onClose); resolve(name); };
      const onClose = (e: HandoverError | null) => { this.off('ready', onReady); reject(e ?? new HandoverError('closed', 'closed before the hello exchange')); };
      this.once('ready', onReady);
      this.once('close', onClose);
    });
  }

  /** Send a data frame (after ready). Returns false if the link is closed. */
  send(type: Exclude<FrameType, 'hello'>, payload: Uint8Array): boolean {
    if (this.closed) return false;
    this.socket.write(this.session.encode(type, payload));
    return true;
  }

  close(): void { this.fail(null); }

  private fail(e: HandoverError | null): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    if (e === null) this.socket.end(); else this.socket.destroy();
    this.emit('close', e);
  }
}

/** Connect to a peer's hand-over address; resolves when the hello exchange is done. */
export async function connectHandover(host: string, port: number, o: LinkOptions): Promise<HandoverLink> {
  const socket = net.connect({ host, port });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const link = new HandoverLink(socket, true, o);
  await link.ready();
  return link;
}

/**
 * Listen on a hand-over address. `onLink` gets each link once its hello exchange is done;
 * links that fail before are closed silently (`onRefused` hears why).
 */
export function listenHandover(host: string, port: number, o: LinkOptions, onLink: (l: HandoverLink) => void,
  onRefused: (e: HandoverError) => void = () => {}): Promise<net.Server> {
  const server = net.createServer((socket) => {
    const link = new HandoverLink(socket, false, o);
    let handed = false;
    link.once('ready', () => { handed = true; onLink(link); });
    // Refused before it was handed over — also when the hello and a bad frame came in one read
    // (the link is then established and dead before 'ready' reached anyone).
    link.once('close', (e: HandoverError | null) => { if (!handed) onRefused(e ?? new HandoverError('closed', 'closed before the hello exchange')); });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(server); });
  });
}
