import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addRange, isUidRanges, removeUid, toSequenceSet, trimToExisting, type UidRanges } from '../src/state/uid-ranges.js';

describe('UID ranges', () => {
  it('adds UIDs and ranges, merging touching and overlapping ones', () => {
    let r: UidRanges = [];
    for (const [a, b] of [[10, 12], [1, 1], [5, 6], [3, 3], [2, 2], [13, 13], [7, 9], [20, 25], [22, 30]] as const) r = addRange(r, a, b);
    assert.deepEqual(r, [[1, 3], [5, 13], [20, 30]]);
    assert.deepEqual(addRange(r, 4, 19), [[1, 30]]);
    assert.deepEqual(addRange(r, 8, 7), r, 'an empty range adds nothing');
    assert.ok(isUidRanges(r));
  });

  it('removes a UID at either end or inside a range', () => {
    const r: UidRanges = [[1, 1], [3, 7]];
    assert.deepEqual(removeUid(r, 1), [[3, 7]]);
    assert.deepEqual(removeUid(r, 3), [[1, 1], [4, 7]]);
    assert.deepEqual(removeUid(r, 5), [[1, 1], [3, 4], [6, 7]]);
    assert.deepEqual(removeUid(r, 7), [[1, 1], [3, 6]]);
    assert.deepEqual(removeUid(r, 2), r);
    assert.deepEqual(r, [[1, 1], [3, 7]], 'the input is unchanged');
  });

  it('trims ranges to the UIDs that still exist, keeping one range over gaps', () => {
    assert.deepEqual(trimToExisting([[1, 10], [20, 30], [40, 50]], [45, 3, 8, 5, 60]), [[3, 8], [45, 45]]);
    assert.deepEqual(trimToExisting([[1, 10]], []), []);
  });

  it('writes IMAP sequence-set syntax', () => {
    assert.equal(toSequenceSet([[1, 1], [3, 7], [9, 4294967295]]), '1,3:7,9:4294967295');
    assert.equal(toSequenceSet([]), '');
  });
});
