// Running test/ha/client.ts in the lab's client namespace and reading its JSON lines.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CLIENT = fileURLToPath(new URL('./client.ts', import.meta.url));

export interface HaClient {
  /** The next JSON line whose `ev` is `ev` (earlier ones of other kinds are kept). */
  next(ev: string, timeoutMs?: number): Promise<Record<string, unknown> & { [k: string]: any }>;
  send(cmd: string): void;
  kill(): void;
  stderr(): string;
}

export function startClient(ns: string, opts: Record<string, unknown>): Promise<HaClient> {
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', CLIENT, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  p.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: p.stdout! }).on('line', (l) => {
    try { lines.push(JSON.parse(l) as Record<string, unknown>); } catch { lines.push({ ev: 'text', text: l }); }
    for (const w of waiters.splice(0)) w();
  });
  let exited = false;
  p.on('exit', () => { exited = true; for (const w of waiters.splice(0)) w(); });
  const c: HaClient = {
    async next(ev, timeoutMs = 30_000) {
      const t0 = performance.now();
      for (;;) {
        const i = lines.findIndex((l) => l.ev === ev || l.ev === 'fatal');
        if (i >= 0) {
          const l = lines.splice(i, 1)[0]!;
          if (l.ev === 'fatal') throw new Error(`client: ${String(l.error)}\n${err}`);
          return l as Record<string, any>;
        }
        if (exited) throw new Error(`client exited before '${ev}': ${err}`);
        const left = timeoutMs - (performance.now() - t0);
        if (left <= 0) throw new Error(`client: no '${ev}' within ${timeoutMs} ms\n${err}`);
        await new Promise<void>((r) => { const t = setTimeout(r, left); waiters.push(() => { clearTimeout(t); r(); }); });
      }
    },
    send(cmd) { p.stdin!.write(`${cmd}\n`); },
    kill() { if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL'); },
    stderr: () => err,
  };
  return Promise.resolve(c);
}
