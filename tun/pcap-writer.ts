// A file-backed classic pcap writer (format: tun/pcap.ts, nanosecond magic, little-endian) that
// any link can tap: records go into one preallocated buffer and reach the file in one
// write(2) per `bufferBytes` (1 MiB by default) and on flush()/close(). Synchronous writes keep
// records in order without a queue; a 1 MiB write costs well under a millisecond on a page cache.
// I/O errors never throw out of write(): they are reported once through `onError` (default:
// a console line), kept in `.error`, and the writer then drops further packets.
import { closeSync, openSync, writeSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { DEFAULT_SNAPLEN, LINKTYPE, encodePcapHeader, msToSecNsec, pcapRecordLen, writePcapRecord } from './pcap.ts';

export interface PcapWriterOptions {
  /** LINKTYPE_ of every packet written; default 101 (raw IP). */
  readonly linkType?: number;
  /** Longest stored packet prefix; default 262144. */
  readonly snaplen?: number;
  /** Buffer size: the file is written when the next record would not fit; default 1 MiB. */
  readonly bufferBytes?: number;
  /** Called once with the first I/O error; default prints one line to stderr. */
  readonly onError?: (e: Error) => void;
}

/** Wall-clock milliseconds with sub-ms precision (the default timestamp). */
const wallMs = (): number => performance.timeOrigin + performance.now();

/** Appends packets to a classic pcap file; call close() (or flush()) before reading the file. */
export class PcapWriter {
  readonly path: string;
  readonly linkType: number;
  readonly snaplen: number;
  /** The first I/O error, or null; once set, write() drops packets. */
  error: Error | null = null;
  /** Packets accepted by write() (buffered or on disk). */
  packets = 0;
  /** Packets dropped because of an error or after close(). */
  dropped = 0;

  private fd: number | null = null;
  private readonly buf: Uint8Array;
  private used = 0;
  private readonly onError: (e: Error) => void;

  constructor(path: string, opts: PcapWriterOptions = {}) {
    this.path = path;
    this.linkType = opts.linkType ?? LINKTYPE.RAW;
    this.snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
    this.buf = new Uint8Array(Math.max(64, opts.bufferBytes ?? 1 << 20));
    this.onError = opts.onError ?? ((e) => console.error(`pcap writer ${path}: ${e.message}`));
    try {
      this.fd = openSync(path, 'w');
    } catch (e) {
      this.fail(e);
      return;
    }
    const hdr = encodePcapHeader(this.linkType, this.snaplen);
    this.buf.set(hdr, 0);
    this.used = hdr.length;
  }

  /** True after close() or an I/O error. */
  get closed(): boolean { return this.fd === null; }

  /** Record `packet` at `tsMs` (milliseconds from the caller's clock; default the wall clock). Never throws. */
  write(packet: Uint8Array, tsMs: number = wallMs()): void {
    if (this.fd === null) { this.dropped++; return; }
    const [sec, nsec] = msToSecNsec(tsMs);
    const need = pcapRecordLen(packet, this.snaplen);
    if (this.used + need > this.buf.length) {
      this.flush();
      if (this.fd === null) { this.dropped++; return; }
    }
    if (need > this.buf.length) {
      // Larger than the whole buffer: give the record its own write.
      const rec = new Uint8Array(need);
      writePcapRecord(rec, 0, sec, nsec, packet, packet.length, this.snaplen);
      if (!this.writeAll(rec)) { this.dropped++; return; }
    } else {
      this.used = writePcapRecord(this.buf, this.used, sec, nsec, packet, packet.length, this.snaplen);
    }
    this.packets++;
  }

  /** Write buffered records to the file now. Never throws. */
  flush(): void {
    if (this.fd === null || this.used === 0) return;
    const n = this.used;
    this.used = 0;
    this.writeAll(this.buf.subarray(0, n));
  }

  /** Flush and close the file; later writes are dropped. Idempotent, never throws. */
  close(): void {
    if (this.fd === null) return;
    this.flush();
    const fd = this.fd;
    this.fd = null;
    if (fd === null) return;
    try { closeSync(fd); } catch (e) { this.fail(e); }
  }

  private writeAll(bytes: Uint8Array): boolean {
    if (this.fd === null) return false;
    try {
      let o = 0;
      while (o < bytes.length) o += writeSync(this.fd, bytes, o, bytes.length - o);
      return true;
    } catch (e) {
      this.fail(e);
      return false;
    }
  }

  private fail(e: unknown): void {
    const first = this.error === null;
    if (first) this.error = e instanceof Error ? e : new Error(String(e));
    if (this.fd !== null) {
      try { closeSync(this.fd); } catch { /* already failing: the first error is the one reported */ }
      this.fd = null;
    }
    if (first) {
      try { this.onError(this.error!); } catch { /* a throwing handler must not crash the link */ }
    }
  }
}

/** A packet tap for any link: `(pkt, now) => void` that records `pkt` at `now` (ms, the link's clock). */
export function tap(writer: PcapWriter): (pkt: Uint8Array, now: number) => void {
  return (pkt, now) => writer.write(pkt, now);
}
