// Reconnect delays: exponential caps with full jitter, checked with a controlled random source.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../src/hpfeeds/index.js';

test('delays are uniform under a cap that doubles up to maxDelayMs, and reset() starts over', () => {
  let r = 0.999999;
  const b = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000 }, () => r);
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [99, 199, 399, 799, 999, 999]);
  r = 0.5;
  assert.equal(b.next(), 500);
  b.reset();
  assert.equal(b.next(), 50);
  r = 0;
  assert.equal(b.next(), 0);
});

test('many attempts stay finite and capped', () => {
  const b = new Backoff({ initialDelayMs: 1, maxDelayMs: 30_000 }, () => 0.999999);
  for (let i = 0; i < 2000; i++) assert.ok(b.next() < 30_000);
});

test('nonsensical delays are refused', () => {
  assert.throws(() => new Backoff({ initialDelayMs: 0, maxDelayMs: 10 }), RangeError);
  assert.throws(() => new Backoff({ initialDelayMs: 100, maxDelayMs: 10 }), /0 < initialDelayMs <= maxDelayMs/);
});
