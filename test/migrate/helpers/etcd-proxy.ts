// A TCP proxy on 127.0.0.1 in front of an etcd client port, so a test can partition one node
// from etcd while that node stays alive: cut() black-holes every connection (bytes in both
// directions are read and dropped, sockets stay open, new connections are accepted and held),
// as a network partition does — the node's calls hang rather than fail.
import { connect, createServer, type Socket } from 'node:net';

export interface EtcdProxy {
  url: string;
  cut(): void;
  close(): Promise<void>;
}

export function startProxy(targetPort: number): Promise<EtcdProxy> {
  let cut = false;
  const socks = new Set<Socket>();
  const track = (s: Socket) => { socks.add(s); s.on('close', () => socks.delete(s)); s.on('error', () => {}); };
  const server = createServer((inbound) => {
    track(inbound);
    if (cut) { inbound.on('data', () => {}); return; }
    const outbound = connect(targetPort, '127.0.0.1');
    track(outbound);
    inbound.on('data', (d) => { if (!cut) outbound.write(d); });
    outbound.on('data', (d) => { if (!cut) inbound.write(d); });
    inbound.on('close', () => { if (!cut) outbound.destroy(); });
    outbound.on('close', () => { if (!cut) inbound.destroy(); });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const a = server.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      resolve({
        url: `http://127.0.0.1:${port}`,
        cut() { cut = true; },
        close() {
          for (const s of socks) s.destroy();
          return new Promise<void>((r) => server.close(() => r()));
        },
      });
    });
  });
}
