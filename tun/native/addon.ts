// Loads ferry's native TUN addon (tun/native/ferry_tun.c, built by node-gyp at `npm install`
// into build/Release/ferry_tun.node) and types its functions. Nothing else in ferry touches
// the .node file directly.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** Repository root (this file lives in tun/native/). */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Where node-gyp puts the addon. */
export const ADDON_PATH = join(ROOT, 'build', 'Release', 'ferry_tun.node');
/** Where node-gyp puts the benchmark load generator (tun/native/ferry_udpflood.c). */
export const UDPFLOOD_PATH = join(ROOT, 'build', 'Release', 'ferry_udpflood');

/** An opaque uv_poll_t handle. */
export type PollHandle = { readonly __brand: 'PollHandle' };

/** The functions ferry_tun.c exports. Errors thrown carry `code` (errno name), `errno`, `syscall`. */
export interface TunAddon {
  /** Open /dev/net/tun (O_RDWR|O_NONBLOCK|O_CLOEXEC) and TUNSETIFF; '' or a `%d` pattern lets the kernel number it. */
  open(name: string, tap: boolean, vnetHdr: boolean, multiQueue: boolean, exclusive: boolean): { fd: number; name: string };
  /** ioctl(TUNSETOFFLOAD, TUN_F_* bits); needs a device opened with vnetHdr. */
  setOffload(fd: number, flags: number): void;
  close(fd: number): void;
  /** Read packets back to back into `arena` until EAGAIN, `maxPackets`, or less than `maxPkt` bytes left; lengths in `lens`. */
  readBatch(fd: number, arena: Uint8Array, lens: Uint32Array, maxPackets: number, maxPkt: number): number;
  /** Write `count` packets laid out back to back in `arena`; returns how many were consumed (stops at EAGAIN). Rejected packets: errs[0]++, errs[1] = errno. */
  writeBatch(fd: number, arena: Uint8Array, lens: Uint32Array, count: number, errs?: Int32Array): number;
  /** Write pkts[start..end); returns how many were consumed (stops at EAGAIN). Rejected packets: errs[0]++, errs[1] = errno. */
  writeArray(fd: number, pkts: readonly Uint8Array[], start: number, end: number, errs?: Int32Array): number;
  /** Write one packet: 1 written, 0 EAGAIN, -errno rejected by the kernel. */
  writeOne(fd: number, pkt: Uint8Array): number;
  /** Start a uv_poll_t on the main loop; `cb(status, events)` runs when the fd is ready (events: READABLE|WRITABLE). */
  pollStart(fd: number, events: number, cb: (status: number, events: number) => void): PollHandle;
  /** Change the interest set (0 pauses without closing). */
  pollUpdate(h: PollHandle, events: number): void;
  /** Whether the poll handle keeps the event loop alive. */
  pollRef(h: PollHandle, ref: boolean): void;
  /** Stop and release the poller (idempotent; safe inside its own callback). */
  pollClose(h: PollHandle): void;
  readonly constants: {
    readonly TUN_F_CSUM: number; readonly TUN_F_TSO4: number; readonly TUN_F_TSO6: number;
    readonly TUN_F_TSO_ECN: number; readonly TUN_F_UFO: number;
    readonly READABLE: number; readonly WRITABLE: number;
  };
}

let cached: TunAddon | null = null;

/** The native addon; throws a message naming the fix when it has not been built. */
export function loadAddon(): TunAddon {
  if (cached) return cached;
  if (!existsSync(ADDON_PATH)) {
    throw new Error(
      `ferry: native TUN addon not built (${ADDON_PATH} is missing). Run \`npm install\` in ${ROOT} ` +
      '(it runs `node-gyp rebuild`; needs a C compiler, make and python3, and Node headers: ' +
      'if the compile failed, the npm log above shows the compiler error).',
    );
  }
  const require = createRequire(import.meta.url);
  try {
    cached = require(ADDON_PATH) as TunAddon;
  } catch (e) {
    throw new Error(`ferry: cannot load ${ADDON_PATH}: ${(e as Error).message}. Rebuild it with \`npm install\`.`, { cause: e });
  }
  return cached;
}
