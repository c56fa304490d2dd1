// `hex` tagged template for wire fixtures (STYLE.md §5): hex digits in any grouping, with
// `#` comments to the end of the line, e.g.
//   const P = hex`
//     4500 0028   # version 4, IHL 5, DSCP/ECN 0, total length 40
//     ...`;
// Interpolations may be hex strings, numbers (one byte, 0..255) or Uint8Arrays.
// Always returns a plain Uint8Array (never a Buffer), so uvu's assert.equal works.

/** Hex bytes from a template literal; `#` starts a comment; throws on odd length or bad digit. */
export function hex(strings: TemplateStringsArray, ...values: readonly (string | number | Uint8Array)[]): Uint8Array {
  let s = '';
  for (let i = 0; i < strings.length; i++) {
    s += stripComments(strings.raw[i]!);
    if (i < values.length) s += valueHex(values[i]!);
  }
  return hexBytes(s);
}

/** Hex text to bytes with whitespace and `#` comments removed (throws on malformed input). */
export function hexBytes(text: string): Uint8Array {
  const h = stripComments(text).replace(/\s+/g, '');
  if (h.length % 2 !== 0) throw new Error(`hex: odd number of digits (${h.length})`);
  if (/[^0-9a-fA-F]/.test(h)) throw new Error(`hex: bad digit in ${JSON.stringify(h.slice(0, 60))}`);
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Bytes to spaced lower-case hex (4 bytes per group), for readable assertion failures. */
export function toHexSpaced(u: Uint8Array): string {
  let s = '';
  for (let i = 0; i < u.length; i++) s += (i > 0 && i % 4 === 0 ? ' ' : '') + u[i]!.toString(16).padStart(2, '0');
  return s;
}

function stripComments(s: string): string {
  return s.replace(/#[^\n]*/g, '');
}

function valueHex(v: string | number | Uint8Array): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new Error(`hex: interpolated number ${v} is not a byte`);
    return v.toString(16).padStart(2, '0');
  }
  let s = '';
  for (let i = 0; i < v.length; i++) s += v[i]!.toString(16).padStart(2, '0');
  return s;
}
