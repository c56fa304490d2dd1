// Keys of the connection and listener tables: plain strings usable as Record keys and as the
// ids the application holds (api.ts ConnId / ListenerId). Addresses are canonical text.
import type { ConnId, ListenerId } from './api.ts';

/** `${localAddr}|${localPort}|${remoteAddr}|${remotePort}`. */
export const connKey = (localAddr: string, localPort: number, remoteAddr: string, remotePort: number): ConnId =>
  `${localAddr}|${localPort}|${remoteAddr}|${remotePort}`;

/** `${localAddr or '*'}|${localPort}`. */
export const listenerKey = (addr: string | null, port: number): ListenerId => `${addr ?? '*'}|${port}`;

/** Source and destination ports of a TCP (or UDP/SCTP) header without a full parse; null if truncated. */
export function peekPorts(l4: Uint8Array): { src: number; dst: number } | null {
  if (l4.length < 4) return null;
  return { src: (l4[0]! << 8) | l4[1]!, dst: (l4[2]! << 8) | l4[3]! };
}
