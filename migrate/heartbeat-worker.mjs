// Bootstrap of the heartbeat thread (heartbeat.ts starts it). Plain JavaScript, because a
// worker does not inherit the main thread's module hooks: it registers tsx's loader (resolved
// from this file's location, so any cwd works), then loads the TypeScript worker.
import { register } from 'tsx/esm/api';
register();
await import('./heartbeat-worker.ts');
