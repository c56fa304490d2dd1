// Child process for driver.test.ts: does some socket work on two in-process Hosts, then
// prints 'idle' and leaves the event loop alone. Mode 'closed': every socket and server is
// closed, so the process must exit by itself. Mode 'listening': a server stays open, so
// it must not (like a Node net.Server).
import { Host } from '../../../tun/driver.ts';
import { memLinkPair } from '../../../tun/memlink.ts';

const mode = process.argv[2];
const [la, lb] = memLinkPair();
const a = new Host({ addresses: ['10.9.0.1'], link: la });
const b = new Host({ addresses: ['10.9.0.2'], link: lb });
const server = b.createServer((s) => s.pipe(s));
server.listen(7, () => {
  const c = a.connect(7, '10.9.0.2');
  c.on('data', () => c.end());
  c.on('close', () => {
    if (mode === 'closed') server.close();
    process.stdout.write('idle\n');
  });
  c.write('ping');
});
