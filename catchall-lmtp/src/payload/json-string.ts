// Writes UTF-8 text escaped for a JSON string straight from its bytes. Going through
// JSON.stringify(bytes.toString()) would hold the message three to five times in memory (decoded
// string, escaped string, re-encoded buffer); this needs the input plus one output buffer.

/** For each byte: 0 = copy as is, else the character after the backslash ('u' means \u00XX). */
const ESCAPE = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) ESCAPE[c] = 0x75; // u
ESCAPE[0x08] = 0x62; // \b
ESCAPE[0x09] = 0x74; // \t
ESCAPE[0x0a] = 0x6e; // \n
ESCAPE[0x0c] = 0x66; // \f
ESCAPE[0x0d] = 0x72; // \r
ESCAPE[0x22] = 0x22; // \"
ESCAPE[0x5c] = 0x5c; // \\
const U = 0x75;
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** Length in bytes of `utf8` escaped for a JSON string, without the quotes. */
export function escapedLength(utf8: Uint8Array): number {
  let length = utf8.length;
  for (let i = 0; i < utf8.length; i++) {
    const e = ESCAPE[utf8[i]!]!;
    if (e !== 0) length += e === U ? 5 : 1;
  }
  return length;
}

/**
 * Writes `utf8` (which must be valid UTF-8) escaped for a JSON string, without quotes, and returns
 * the offset after it. Bytes >= 0x80 are copied unchanged: JSON text is UTF-8. Escaping works byte by
 * byte, so a text may be written in pieces cut anywhere, even inside a character.
 */
export function writeEscaped(utf8: Uint8Array, out: Buffer, offset: number, length = escapedLength(utf8)): number {
  let o = offset;
  if (length === utf8.length) {
    out.set(utf8, o);
    return o + utf8.length;
  }
  for (let i = 0; i < utf8.length; i++) {
    const c = utf8[i]!;
    const e = ESCAPE[c]!;
    if (e === 0) {
      out[o++] = c;
      continue;
    }
    out[o++] = 0x5c;
    out[o++] = e;
    if (e === U) {
      out[o++] = 0x30;
      out[o++] = 0x30;
      out[o++] = HEX[c >> 4]!;
      out[o++] = HEX[c & 15]!;
    }
  }
  return o;
}
