import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isUtf8Parts } from '../../src/payload/utf8.js';
import { cutAt } from '../helpers/cut.js';

/** Text with characters of every UTF-8 length, and now and then a byte that breaks it. */
const mostlyUtf8 = fc
  .array(
    fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('a', '\r\n', 'é', '€', '👋', '\u0000', '\uffff') },
      { weight: 1, arbitrary: fc.constantFrom('\xff', '\xc3', '\xe2\x82', '\xf0\x9f', '\x80', '\xed\xa0\x80', '\xc0\xaf').map((s) => ({ latin1: s })) },
    ),
    { maxLength: 60 },
  )
  .map((items) => Buffer.concat(items.map((i) => (typeof i === 'string' ? Buffer.from(i, 'utf8') : Buffer.from(i.latin1, 'latin1')))));

describe('isUtf8Parts', () => {
  test('agrees with Node on the joined bytes, wherever the pieces are cut', () => {
    fc.assert(
      fc.property(mostlyUtf8, fc.array(fc.nat(), { maxLength: 8 }), (bytes, at) => {
        assert.equal(isUtf8Parts(cutAt(bytes, at)), isUtf8(bytes));
      }),
      { numRuns: 3000, seed: 20261202 },
    );
  });

  test('a character cut into one-byte pieces, complete or not', () => {
    const one = (s: string, enc: BufferEncoding = 'utf8') => [...Buffer.from(s, enc)].map((b) => Buffer.from([b]));
    assert.equal(isUtf8Parts(one('x👋y€')), true);
    assert.equal(isUtf8Parts(one('x\xf0\x9f\x91', 'latin1')), false, 'ends inside a character');
    assert.equal(isUtf8Parts([Buffer.from('ab'), Buffer.alloc(0), Buffer.from('c')]), true);
    assert.equal(isUtf8Parts([]), true);
  });
});
