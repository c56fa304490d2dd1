// An attacker (or a confused peer) on a real node's hand-over address, for
// test/migrate/control-plane.test.ts. Run inside the peer's namespace:
//   node --import tsx handover-probe.ts <mode> <host> <port> <peer-name> <key-hex>
// Modes (each prints one JSON line saying what it saw):
//   wrong-key       a hello under another key
//   record-replay   a real session (key known) is recorded, then its bytes are replayed
//                   verbatim on a new connection (an eavesdropper's replay)
//   replay-frame    a frame sent twice in one session
//   reorder         frame 2 before frame 1
//   snapshot-twice  one sealed snapshot envelope sent twice (two frames, two refs): the node's
//                   answer to each
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { HandoverSession, type Frame } from '../../../migrate/handover.ts';
import { sealSnapshot } from '../../../migrate/envelope.ts';

const [mode, host, portText, name, keyHex] = process.argv.slice(2);
const port = Number(portText);
const key = new Uint8Array(Buffer.from(keyHex ?? '', 'hex'));
const te = new TextEncoder(), td = new TextDecoder();

/** Connect, send `first` bytes, collect what comes back until the peer closes or `ms` pass. */
function exchange(first: (s: net.Socket, got: () => Uint8Array) => Promise<void> | void, ms = 3000): Promise<{ closedByPeer: boolean; got: Uint8Array }> {
  return new Promise((resolve) => {
    const s = net.connect(port, host);
    const chunks: Buffer[] = [];
    let done = false;
    const got = (): Uint8Array => new Uint8Array(Buffer.concat(chunks));
    const finish = (closedByPeer: boolean): void => { if (done) return; done = true; clearTimeout(t); s.destroy(); resolve({ closedByPeer, got: got() }); };
    const t = setTimeout(() => finish(false), ms);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    s.on('connect', () => { void first(s, got); });
  });
}

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A session whose hellos are exchanged over `s`; `frames()` decodes what arrived since the last call. */
async function establish(s: net.Socket, got: () => Uint8Array, sent?: Uint8Array[]): Promise<{ sess: HandoverSession; frames: () => Frame[] }> {
  const sess = new HandoverSession({ key, name: name!, initiator: true });
  const hello = sess.hello();
  sent?.push(hello);
  s.write(hello);
  let fed = 0;
  const frames = (): Frame[] => {
    const all = got();
    if (all.length <= fed) return [];
    const out = sess.receive(all.subarray(fed));
    fed = all.length;
    return out;
  };
  for (let i = 0; i < 200 && !sess.established; i++) { await wait(10); frames(); }
  if (!sess.established) throw new Error('no hello from the node');
  return { sess, frames };
}

const harmless = (): Uint8Array => te.encode(JSON.stringify({ t: 'reply', re: 999_999, ok: true }));

async function main(): Promise<Record<string, unknown>> {
  switch (mode) {
    case 'wrong-key': {
      const bad = new Uint8Array(randomBytes(32));
      const r = await exchange((s) => { s.write(new HandoverSession({ key: bad, name: name!, initiator: true }).hello()); });
      return { mode, closedByPeer: r.closedByPeer };
    }
    case 'record-replay': {
      const sent: Uint8Array[] = [];
      const first = await exchange(async (s, got) => {
        const { sess } = await establish(s, got, sent);
        const f = sess.encode('control', harmless());
        sent.push(f);
        s.write(f);
        await wait(300);
        s.end();
      });
      const recorded = Buffer.concat(sent);
      // The recording replayed: the hello, then (once the node has answered) the rest.
      const replay = await exchange(async (s) => { s.write(sent[0]!); await wait(300); s.write(Buffer.concat(sent.slice(1))); });
      return { mode, firstClosedByPeer: first.closedByPeer, replayClosedByPeer: replay.closedByPeer, recordedBytes: recorded.length };
    }
    case 'replay-frame':
    case 'reorder': {
      const r = await exchange(async (s, got) => {
        const { sess } = await establish(s, got);
        const f1 = sess.encode('control', harmless());
        const f2 = sess.encode('control', harmless());
        if (mode === 'replay-frame') { s.write(f1); s.write(f1); } else { s.write(f2); s.write(f1); }
      });
      return { mode, closedByPeer: r.closedByPeer };
    }
    case 'snapshot-twice': {
      const replies: unknown[] = [];
      await exchange(async (s, got) => {
        const { sess, frames } = await establish(s, got);
        // Sealed with the cluster key: the envelope is authentic (its content is no snapshot).
        const env = sealSnapshot(te.encode('not a snapshot'), key);
        for (const ref of [1, 2]) {
          const p = new Uint8Array(4 + env.length);
          new DataView(p.buffer).setUint32(0, ref);
          p.set(env, 4);
          s.write(sess.encode('snapshot', p));
        }
        // The node answers each on the control channel: { t: 'reply', re, ok, error }.
        for (let i = 0; i < 150 && replies.length < 2; i++) {
          await wait(20);
          for (const f of frames()) {
            if (f.type !== 'control') continue;
            const m = JSON.parse(td.decode(f.payload)) as { t?: string; re?: number };
            if (m.t === 'reply' && (m.re === 1 || m.re === 2)) replies.push(m);
          }
        }
        s.end();
      }, 5000);
      return { mode, replies };
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

main().then((r) => { console.log(JSON.stringify(r)); process.exit(0); }, (e: Error) => { console.log(JSON.stringify({ mode, error: e.message })); process.exit(1); });
