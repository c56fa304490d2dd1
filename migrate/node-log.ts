// The HA node's log: one line per record, `<ISO time> <node> <event> key=value ...`, e.g.
//   2026-11-27T09:00:00.000Z a switchover.step step=1 phase=redirect-new to=b
// A value that is not a plain word is JSON-quoted, so a line never splits and stays parseable.
// Bytes are never written out: a Uint8Array shows as <N bytes> (services' state, keys).
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { LogFn } from './node-types.ts';

/** A LogFn that can also release its file. */
export type NodeLogger = LogFn & { close(): void };

export interface LoggerOptions {
  /** The clock (ms since the epoch); default Date.now. */
  now?: () => number;
  /** Where a line goes instead of the file / stderr (tests). */
  write?: (line: string) => void;
}

const WORD = /^[A-Za-z0-9_.,:/@%+\-[\]<>]+$/;

/** JSON with bytes replaced by their length, and no cycles. */
function safeJson(v: unknown): string {
  const seen = new WeakSet<object>();
  try {
    return JSON.stringify(v, (_k, x: unknown) => {
      if (x instanceof Uint8Array) return `<${x.length} bytes>`;
      if (typeof x === 'bigint') return x.toString();
      if (x instanceof Error) return x.message;
      if (typeof x === 'object' && x !== null) {
        if (seen.has(x)) return '<cycle>';
        seen.add(x);
      }
      return x;
    }) ?? 'null';
  } catch {
    return '"<unprintable>"';
  }
}

/** One field value as written on a log line. */
export function formatLogValue(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (v instanceof Uint8Array) return JSON.stringify(`<${v.length} bytes>`);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof Error) return JSON.stringify(v.message);
  if (typeof v === 'string') return WORD.test(v) ? v : JSON.stringify(v);
  return safeJson(v);
}

/** `key` as written: anything outside [A-Za-z0-9_.-] becomes '_'. */
const cleanName = (k: string): string => (k.replace(/[^A-Za-z0-9_.-]/g, '_') || '_');

/** The text of one record (no newline). */
export function formatLogLine(time: number, node: string, event: string, fields?: Record<string, unknown>): string {
  let line = `${new Date(time).toISOString()} ${cleanName(node)} ${cleanName(event)}`;
  if (fields) {
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      line += ` ${cleanName(k)}=${formatLogValue(v)}`;
    }
  }
  return line;
}

/**
 * The node's logger: appends to `file` (created with its directory, mode 0600) or writes to
 * stderr when `file` is null. Writes are synchronous so lines keep their order and survive a crash.
 */
export function makeLogger(name: string, file: string | null, opts: LoggerOptions = {}): NodeLogger {
  const now = opts.now ?? Date.now;
  let fd: number | null = null;
  if (opts.write === undefined && file !== null) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    fd = openSync(file, 'a', 0o600);
  }
  const write = opts.write ?? ((line: string): void => {
    if (fd !== null) writeSync(fd, line + '\n');
    else process.stderr.write(line + '\n');
  });
  const log = ((event: string, fields?: Record<string, unknown>): void => {
    try {
      write(formatLogLine(now(), name, event, fields));
    } catch {
      // A full disk or closed stderr must not take the node down.
    }
  }) as NodeLogger;
  log.close = (): void => {
    if (fd !== null) { try { closeSync(fd); } catch { /* already closed */ } fd = null; }
  };
  return log;
}
