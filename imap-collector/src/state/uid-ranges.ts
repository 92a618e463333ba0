// A set of UIDs as sorted, disjoint, non-adjacent [first, last] ranges: what the state file keeps of
// the messages not collected yet, so that it stays a few numbers however many messages a folder holds.
// Functions return new arrays and never change their input.

export type UidRanges = [first: number, last: number][];

/** Adds first..last (inclusive), merging with touching or overlapping ranges. */
export function addRange(ranges: UidRanges, first: number, last: number): UidRanges {
  if (last < first) return ranges;
  const out: UidRanges = [];
  let [a, b] = [first, last];
  let placed = false;
  for (const [s, e] of ranges) {
    if (e + 1 < a) out.push([s, e]);
    else if (b + 1 < s) {
      if (!placed) out.push([a, b]);
      placed = true;
      out.push([s, e]);
    } else {
      a = Math.min(a, s);
      b = Math.max(b, e);
    }
  }
  if (!placed) out.push([a, b]);
  return out;
}

/** Removes one UID, splitting its range if it lies inside one. */
export function removeUid(ranges: UidRanges, uid: number): UidRanges {
  const out: UidRanges = [];
  for (const [s, e] of ranges) {
    if (uid < s || uid > e) out.push([s, e]);
    else {
      if (s < uid) out.push([s, uid - 1]);
      if (uid < e) out.push([uid + 1, e]);
    }
  }
  return out;
}

/**
 * Shrinks every range to the first and last of `existing` inside it and drops ranges with none.
 * UIDs between them that no longer exist stay inside: UIDs are never reused, so they cost nothing,
 * and keeping them keeps one range where the messages are would otherwise need many.
 */
export function trimToExisting(ranges: UidRanges, existing: readonly number[]): UidRanges {
  const uids = [...existing].sort((x, y) => x - y);
  const out: UidRanges = [];
  let i = 0;
  for (const [s, e] of ranges) {
    while (i < uids.length && uids[i]! < s) i++;
    let lo: number | undefined;
    let hi: number | undefined;
    while (i < uids.length && uids[i]! <= e) {
      lo ??= uids[i]!;
      hi = uids[i]!;
      i++;
    }
    if (lo !== undefined && hi !== undefined) out.push([lo, hi]);
  }
  return out;
}

/** IMAP sequence-set syntax, e.g. `3:7,9`; empty for an empty set. */
export function toSequenceSet(ranges: UidRanges): string {
  return ranges.map(([s, e]) => (s === e ? String(s) : `${s}:${e}`)).join(',');
}

export function sameRanges(a: UidRanges, b: UidRanges): boolean {
  return a.length === b.length && a.every(([s, e], i) => s === b[i]![0] && e === b[i]![1]);
}

/** True for a well-formed set as addRange builds it (what a state file must hold). */
export function isUidRanges(value: unknown): value is UidRanges {
  if (!Array.isArray(value)) return false;
  let previousLast = -1;
  for (const r of value) {
    if (!Array.isArray(r) || r.length !== 2) return false;
    const [s, e] = r as unknown[];
    if (!Number.isSafeInteger(s) || !Number.isSafeInteger(e)) return false;
    if ((s as number) < 1 || (e as number) < (s as number) || (s as number) <= previousLast + 1) return false;
    previousLast = e as number;
  }
  return true;
}
