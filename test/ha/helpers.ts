// The lab's kernel-side client (test/ha/client.ts), as the HA tests use it: see bin/lab.ts.
export { startClient, type HaClient } from '../../bin/lab.ts';
