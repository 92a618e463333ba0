// Test messages. IMAP stores messages with CRLF line ends (Dovecot hands a bare LF back as CRLF), so
// every message here uses CRLF; everything else about them is as awkward as trap mail gets.
import { createHash, randomBytes } from 'node:crypto';

const crlf = (lines: string[]) => Buffer.from(lines.join('\r\n') + '\r\n', 'utf8');

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A unique small message; `tag` ends up in the subject so a test can tell messages apart. */
export function plain(tag: string): Buffer {
  return crlf([`From: spammer@example.net`, `To: trap@example.org`, `Subject: ${tag}`, `Message-ID: <${tag}.${randomBytes(4).toString('hex')}@example.net>`, '', `Body of ${tag}.`]);
}

/** 8-bit Latin-1 in the body (not valid UTF-8: the JSON payload must fall back to base64). */
export function latin1(tag: string): Buffer {
  return Buffer.concat([
    crlf([`From: spammer@example.net`, `Subject: ${tag}`, 'Content-Type: text/plain; charset=iso-8859-1', 'Content-Transfer-Encoding: 8bit', '']),
    Buffer.from('Gr\xfc\xdfe, \xe9t\xe9 \xe0 Z\xfcrich \xff\xfe\x80\r\n', 'latin1'),
  ]);
}

/** UTF-8 in a header and the body (valid UTF-8: the JSON payload carries it as text). */
export function utf8(tag: string): Buffer {
  return crlf([`From: =?UTF-8?B?w6lx?= <spammer@example.net>`, `Subject: ${tag} — Grüße 你好`, 'Content-Type: text/plain; charset=utf-8', '', 'Ünïcödé bödy ✓']);
}

/** A base64-encoded single part: BINARY[] would hand back decoded bytes, BODY[] the stored ones. */
export function base64Part(tag: string): Buffer {
  const encoded = Buffer.from(`decoded content of ${tag}\n`).toString('base64');
  return crlf([`From: spammer@example.net`, `Subject: ${tag}`, 'MIME-Version: 1.0', 'Content-Type: application/octet-stream', 'Content-Transfer-Encoding: base64', '', encoded]);
}

/** A large message of `size` bytes or a little more: base64 lines of random data, a long line at the end. */
export function large(tag: string, size: number): Buffer {
  const head = crlf([`From: spammer@example.net`, `Subject: ${tag}`, 'Content-Type: application/zip', 'Content-Transfer-Encoding: base64', '']);
  const lines: string[] = [];
  let length = head.length;
  while (length < size) {
    const line = randomBytes(57).toString('base64');
    lines.push(line);
    length += line.length + 2;
  }
  lines.push('x'.repeat(5000)); // a line far over RFC 5322's 998 characters
  return Buffer.concat([head, crlf(lines)]);
}
