// The node's local control socket (issue #8 items 1, 4, 6): a unix-domain socket, mode 0600,
// speaking the newline-delimited JSON protocol of node-types.ts (ControlRequest / ControlReply).
// The server never crashes on input: an over-long line, bad JSON or an unknown command gets an
// error reply. The client turns every way of not reaching a node into one clear sentence.
import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import type { ControlReply, ControlRequest, LogFn, NodeApi, SwitchoverProgress } from './node-types.ts';

/** Longest request line the server reads (bytes, without the newline). */
export const MAX_LINE = 64 * 1024;
/** Longest reply line the client accepts. */
const MAX_REPLY = 64 * 1024 * 1024;
/** Progress lines are sent at most this often (phase changes always go out at once)... */
const PROGRESS_EVERY_MS = 100;
/** ...and at least this often while a switch-over runs, so a client can tell a live node from a hung one. */
const PROGRESS_KEEPALIVE_MS = 1000;

export interface ControlServer {
  readonly path: string;
  /** Stop listening, end every client (after what was written to it), remove the socket file. */
  close(): Promise<void>;
}

/** Could not serve or reach the control socket; `message` is one sentence for the user. */
export class ControlError extends Error {
  constructor(message: string, readonly code: string | null = null) {
    super(message);
    this.name = 'ControlError';
  }
}

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

/** Does a live node answer on `path`? true: yes, false: nobody (ECONNREFUSED / ENOENT). Other errors throw. */
function probe(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(path);
    const t = setTimeout(() => { s.destroy(); resolve(true); }, timeoutMs); // a listener that is slow to accept is still a listener
    s.once('connect', () => { clearTimeout(t); s.destroy(); resolve(true); });
    s.once('error', (e) => {
      clearTimeout(t);
      const code = errno(e);
      if (code === 'ECONNREFUSED' || code === 'ENOENT') resolve(false);
      else reject(new ControlError(`cannot tell whether a node runs on ${path}: ${code ?? e.message}`, code ?? null));
    });
  });
}

/** Make `path` free for a new socket: refuse a live node or a non-socket, remove a stale socket. */
async function claim(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if (errno(e) === 'ENOENT') return;
    throw new ControlError(`cannot use ${path}: ${errno(e) ?? (e as Error).message}`, errno(e) ?? null);
  }
  if (!st.isSocket()) throw new ControlError(`${path} exists and is not a socket; not touching it`, 'EEXIST');
  if (await probe(path)) throw new ControlError(`another node is running on ${path}`, 'EADDRINUSE');
  try {
    unlinkSync(path);
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw new ControlError(`cannot remove the stale socket ${path}: ${errno(e) ?? (e as Error).message}`, errno(e) ?? null);
  }
}

type Send = (r: ControlReply) => void;

/** Check one request line's shape; a ControlRequest or an error text. */
export function parseRequest(line: string): ControlRequest | { id: number; error: string } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { id: 0, error: 'bad request: not JSON' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { id: 0, error: 'bad request: not a JSON object' };
  const o = v as Record<string, unknown>;
  const id = typeof o.id === 'number' && Number.isSafeInteger(o.id) ? o.id : null;
  if (id === null) return { id: 0, error: 'bad request: "id" must be an integer' };
  if (typeof o.cmd !== 'string') return { id, error: 'bad request: "cmd" must be a string' };
  switch (o.cmd) {
    case 'status':
    case 'stop':
      return { id, cmd: o.cmd };
    case 'switchover':
      if (o.to !== undefined && o.to !== null && typeof o.to !== 'string') return { id, error: 'bad request: "to" must be a node name or null' };
      return { id, cmd: 'switchover', to: typeof o.to === 'string' ? o.to : null };
    default:
      return { id, error: `unknown command ${JSON.stringify(o.cmd).slice(0, 70)} (status, switchover, stop)` };
  }
}

async function handle(req: ControlRequest, api: NodeApi, send: Send, log: LogFn): Promise<void> {
  const { id } = req;
  try {
    switch (req.cmd) {
      case 'status':
        send({ id, ok: true, status: api.status() });
        return;
      case 'stop':
        log('control.stop', {});
        await api.stop();
        send({ id, ok: true });
        return;
      case 'switchover': {
        log('control.switchover', { to: req.to });
        let last: SwitchoverProgress | null = null;
        let sentAt = 0;
        let sentPhase: string | null = null;
        const emit = (p: SwitchoverProgress): void => { sentAt = Date.now(); sentPhase = p.phase; send({ id, progress: p }); };
        const keepalive = setInterval(() => { if (last !== null && Date.now() - sentAt >= PROGRESS_KEEPALIVE_MS) emit(last); }, PROGRESS_KEEPALIVE_MS);
        try {
          const summary = await api.switchover(req.to, (p) => {
            last = { ...p };
            if (p.phase !== sentPhase || Date.now() - sentAt >= PROGRESS_EVERY_MS) emit(last);
          });
          // ok:true = the command ran; summary.ok says whether the switch-over succeeded.
          send({ id, ok: true, summary });
        } finally {
          clearInterval(keepalive);
        }
        return;
      }
    }
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    log('control.error', { cmd: req.cmd, error: msg });
    send({ id, ok: false, error: msg });
  }
}

/**
 * Refuse a socket directory that someone other than us (or root) owns, or that its group or
 * others may write to: whoever can write there can unlink our socket and put their own in its
 * place, and every `ferry status` / `ferry switchover` would then talk to them (OpenSSH's
 * StrictModes and PostgreSQL's data-directory check refuse the same). A sticky world-writable
 * directory such as /tmp is refused too: names there can be squatted before we start.
 */
export function checkSocketDir(dir: string): void {
  let st;
  try {
    st = statSync(dir);
  } catch (e) {
    throw new ControlError(`cannot check ${dir}: ${errno(e) ?? (e as Error).message}`, errno(e) ?? null);
  }
  const uid = process.getuid?.() ?? st.uid;
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  if (!st.isDirectory()) throw new ControlError(`${dir} is not a directory`, 'ENOTDIR');
  if (st.uid !== uid && st.uid !== 0) {
    throw new ControlError(`refusing to serve the control socket in ${dir}: it belongs to uid ${st.uid}, not to this node's user (uid ${uid}) or root`, 'EPERM');
  }
  if ((st.mode & 0o022) !== 0) {
    const who = (st.mode & 0o002) !== 0 ? 'everyone' : 'its group';
    throw new ControlError(`refusing to serve the control socket in ${dir}: ${who} may write there (mode ${mode}), so anyone could replace the socket; chmod go-w ${dir} or choose another control path`, 'EPERM');
  }
}

/**
 * Serve `api` on a unix-domain socket at `path`. Creates the parent directory (mode 0700) if
 * missing and refuses one that is not private to us (checkSocketDir), removes a stale socket
 * (one nobody answers on), refuses when a live node answers ("another node is running on
 * <path>"), and makes the socket mode 0600 owned by us, checked before any client is served.
 */
export async function serveControl(path: string, api: NodeApi, log: LogFn): Promise<ControlServer> {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new ControlError(`cannot create ${dirname(path)}: ${errno(e) ?? (e as Error).message}`, errno(e) ?? null);
  }
  checkSocketDir(dirname(path));
  await claim(path);
  const clients = new Set<net.Socket>();
  let verified = false;
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    // Until the mode is checked, nobody is served (the socket may briefly have the umask's mode).
    if (!verified) { sock.destroy(); return; }
    clients.add(sock);
    sock.on('close', () => clients.delete(sock));
    sock.on('error', () => {}); // a client that vanished mid-reply is not our problem
    const send: Send = (r) => { if (!sock.destroyed && sock.writable) sock.write(JSON.stringify(r) + '\n'); };
    let buf = '';
    let dropping = false; // skipping the rest of an over-long line
    let pending = 0; // requests still being answered
    let ended = false; // the client sent FIN: answer what it asked, then close
    const endIfDone = (): void => { if (ended && pending === 0) sock.end(); };
    const take = (line: string): void => {
      if (line === '') return;
      const req = parseRequest(line);
      if ('error' in req) { send({ id: req.id, ok: false, error: req.error }); return; }
      pending++;
      void handle(req, api, send, log).finally(() => { pending--; endIfDone(); });
    };
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf('\n', start);
        const piece = chunk.slice(start, nl < 0 ? undefined : nl);
        if (!dropping) buf += piece;
        if (!dropping && Buffer.byteLength(buf) > MAX_LINE) {
          send({ id: 0, ok: false, error: `bad request: line longer than ${MAX_LINE} bytes` });
          log('control.error', { error: 'line too long' });
          buf = '';
          dropping = true;
        }
        if (nl < 0) break;
        const line = buf.trim();
        buf = '';
        start = nl + 1;
        if (dropping) { dropping = false; continue; }
        take(line);
      }
    });
    sock.on('end', () => {
      // A last request without a newline still counts.
      if (!dropping) take(buf.trim());
      buf = '';
      ended = true;
      endIfDone();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new ControlError(`cannot listen on ${path}: ${errno(e) ?? e.message}`, errno(e) ?? null)));
    server.listen(path, () => resolve());
  });
  server.on('error', (e) => log('control.error', { error: e.message }));
  const close = (): Promise<void> => new Promise((resolve) => {
    server.close(() => resolve());
    for (const c of clients) c.end();
    const t = setTimeout(() => { for (const c of clients) c.destroy(); }, 1000);
    t.unref();
    try {
      if (lstatSync(path).isSocket()) unlinkSync(path);
    } catch { /* already gone */ }
  });
  try {
    chmodSync(path, 0o600);
    const st = statSync(path);
    const uid = process.getuid?.() ?? st.uid;
    if (!st.isSocket() || (st.mode & 0o077) !== 0 || st.uid !== uid) {
      throw new Error(`mode ${(st.mode & 0o777).toString(8)}, owner ${st.uid}`);
    }
  } catch (e) {
    await close();
    throw new ControlError(`cannot make ${path} private (0600, ours): ${errno(e) ?? (e as Error).message}`, errno(e) ?? null);
  }
  verified = true;
  log('control.listening', { path });
  return { path, close };
}

export interface ControlRequestOptions {
  /**
   * Give up after this long without a line from the node (ms). Default 10 s, 60 s for a
   * switch-over, whose progress lines (at least one a second once it has started) keep it alive.
   */
  timeoutMs?: number;
}

/**
 * Send one request to the node on `path`; resolves with its final reply (`progress` lines go to
 * `onProgress`). Rejects with a ControlError that says what to do.
 */
export function controlRequest(path: string, req: ControlRequest, onProgress?: (p: SwitchoverProgress) => void,
  opts: ControlRequestOptions = {}): Promise<ControlReply> {
  const timeoutMs = opts.timeoutMs ?? (req.cmd === 'switchover' ? 60_000 : 10_000);
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: ControlError | null, reply?: ControlReply): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err); else resolve(reply!);
    };
    const sock = net.createConnection(path);
    let timer = setTimeout(() => finish(new ControlError(`no reply from the node on ${path} within ${timeoutMs / 1000} s`, 'ETIMEDOUT')), timeoutMs);
    const alive = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(new ControlError(`no reply from the node on ${path} within ${timeoutMs / 1000} s`, 'ETIMEDOUT')), timeoutMs);
    };
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('error', (e) => {
      const code = errno(e);
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        finish(new ControlError(`no ferry node is listening on ${path} (is it running? see --config/--socket)`, code));
      } else if (code === 'EACCES' || code === 'EPERM') {
        finish(new ControlError(`permission denied on ${path} (the control socket is private to the node's user: run as that user or root)`, code));
      } else if (code === 'ENOTSOCK') {
        finish(new ControlError(`${path} is not a socket (see --config/--socket)`, code));
      } else {
        finish(new ControlError(`cannot talk to the node on ${path}: ${code ?? e.message}`, code ?? null));
      }
    });
    let buf = '';
    sock.on('data', (chunk: string) => {
      alive();
      buf += chunk;
      if (buf.length > MAX_REPLY) { finish(new ControlError(`the node on ${path} sent a reply over ${MAX_REPLY} bytes`)); return; }
      let nl: number;
      while (!done && (nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let r: ControlReply;
        try {
          r = JSON.parse(line) as ControlReply;
        } catch {
          finish(new ControlError(`the node on ${path} sent something that is not JSON`));
          return;
        }
        if (typeof r !== 'object' || r === null) { finish(new ControlError(`the node on ${path} sent a malformed reply`)); return; }
        if (r.id !== req.id && r.id !== 0) continue;
        if ('progress' in r) { onProgress?.(r.progress); continue; }
        finish(null, r);
      }
    });
    sock.on('close', () => finish(new ControlError(`the node on ${path} closed the connection without answering (did it stop?)`, 'ECONNRESET')));
  });
}
