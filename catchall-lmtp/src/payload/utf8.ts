// Whether a message in pieces is valid UTF-8, without joining the pieces: each piece is checked by
// Node's own validator up to a character cut at its end, and that character is checked with the
// first bytes of the next piece.
import { isUtf8 } from 'node:buffer';

const EMPTY = Buffer.alloc(0);

export function isUtf8Parts(parts: readonly Uint8Array[]): boolean {
  if (parts.length === 1) return isUtf8(parts[0]!);
  let carry: Uint8Array = EMPTY; // the start of a character cut at the end of the previous piece
  for (const part of parts) {
    let piece = part;
    if (carry.length > 0) {
      const need = sequenceLength(carry[0]!) - carry.length;
      if (piece.length < need) {
        carry = Buffer.concat([carry, piece]);
        continue;
      }
      if (!isUtf8(Buffer.concat([carry, piece.subarray(0, need)]))) return false;
      piece = piece.subarray(need);
    }
    const cut = cutCharacter(piece);
    if (!isUtf8(piece.subarray(0, piece.length - cut))) return false;
    carry = piece.subarray(piece.length - cut);
  }
  return carry.length === 0;
}

/** Length of the sequence a lead byte starts (an invalid lead counts as 4: the check then fails). */
function sequenceLength(lead: number): number {
  return lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
}

/** How many bytes at the end of `bytes` start a character that continues past it (0 to 3). */
function cutCharacter(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const b = bytes[bytes.length - back]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: its lead is further back
    return sequenceLength(b) > back ? back : 0;
  }
  return 0;
}
