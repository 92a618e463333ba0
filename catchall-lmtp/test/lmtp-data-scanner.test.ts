// Our DATA scanner (src/lmtp/data-scanner.ts) against smtp-server's own, on the same input cut into
// the same chunks: the message, where DATA ends, and the commands after it must be identical. Inputs
// are random (seeded, dense in dots, CRs and LFs) plus the boundary cases written out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { feedDataStream, libraryFeedDataStream } from '../src/lmtp/data-scanner.js';

interface Parsed {
  message: string;
  /** whether the terminator was found */
  ended: boolean;
  /** command lines received after the message */
  commands: string[];
}

type Feed = typeof feedDataStream;

/** Feeds `chunks` to an SMTPStream in data mode that uses `feed` as its DATA parser. */
async function parse(feed: Feed, chunks: Buffer[]): Promise<Parsed & { pieces: Buffer[] }> {
  const stream = new SMTPStream();
  (stream as unknown as { _feedDataStream: Feed })._feedDataStream = feed;
  const commands: string[] = [];
  stream.oncommand = (line: Buffer, next?: () => void) => {
    commands.push(line.toString('latin1'));
    next?.();
  };
  const data = stream.startDataMode();
  const pieces: Buffer[] = [];
  let ended = false;
  data.on('data', (b: Buffer) => pieces.push(b));
  data.on('end', () => {
    ended = true;
    stream.continue();
  });
  for (const chunk of chunks) await new Promise<void>((resolve, reject) => stream.write(chunk, (err) => (err ? reject(err) : resolve())));
  await new Promise<void>((resolve) => stream.end(resolve));
  await new Promise<void>((resolve) => setImmediate(resolve));
  return { message: Buffer.concat(pieces).toString('latin1'), ended, commands, pieces };
}

async function assertSameAsLibrary(chunks: Buffer[], why: string): Promise<Parsed> {
  const ours = await parse(feedDataStream, chunks);
  const library = await parse(libraryFeedDataStream, chunks);
  const view = (p: Parsed) => ({ message: p.message, ended: p.ended, commands: p.commands });
  assert.deepEqual(view(ours), view(library), `${why}: ${JSON.stringify(chunks.map((c) => c.toString('latin1')))}`);
  return view(ours);
}

/** Mulberry32: a small seeded PRNG, so that a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = ['.', '..', '\r', '\n', '\r\n', '\r\n.', '\r\n..', '\r\n.\r\n', 'a', 'xyz', '\x00', '\xff'];

function randomInput(rand: () => number, length: number): Buffer {
  let s = '';
  while (s.length < length) s += rand() < 0.3 ? 'abcdefgh'.repeat(1 + Math.floor(rand() * 60)) : TOKENS[Math.floor(rand() * TOKENS.length)];
  return Buffer.from(s, 'latin1');
}

/** Cuts `input` into chunks of random sizes: tiny ones (the slow path) and big ones (the fast path). */
function randomCuts(rand: () => number, input: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < input.length; ) {
    const size = rand() < 0.5 ? 1 + Math.floor(rand() * 8) : 256 + Math.floor(rand() * 700);
    chunks.push(input.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

describe('DATA scanner', () => {
  it('matches smtp-server on 3,000 random inputs and chunkings', async () => {
    const seed = Number(process.env.SCANNER_SEED ?? 20261202);
    const rand = prng(seed);
    let terminated = 0;
    for (let n = 0; n < 3000; n++) {
      const input = randomInput(rand, 1 + Math.floor(rand() * 3000));
      const r = await assertSameAsLibrary(randomCuts(rand, input), `seed ${seed}, case ${n}`);
      if (r.ended) terminated++;
    }
    assert.ok(terminated > 1000, `only ${terminated} of the random inputs contained a terminator`);
  });

  it('matches smtp-server where a terminator or an escape dot straddles two chunks, at every offset', async () => {
    const body = Buffer.from(`${'x'.repeat(300)}\r\n..stuffed\r\n${'y'.repeat(300)}\r\n.\r\nQUIT\r\n`, 'latin1');
    for (let cut = 1; cut < body.length; cut++) {
      const r = await assertSameAsLibrary([body.subarray(0, cut), body.subarray(cut)], `cut at ${cut}`);
      assert.equal(r.message, `${'x'.repeat(300)}\r\n.stuffed\r\n${'y'.repeat(300)}\r\n`);
      assert.deepEqual(r.commands, ['QUIT']);
    }
  });

  it('matches smtp-server at the start of DATA: the empty message, an escaped first dot, a leading CRLF', async () => {
    for (const start of ['.\r\nQUIT\r\n', '..\r\n.\r\n', '..x\r\n.\r\n', '\r\n.\r\n', '\n..x\r\n.\r\n', '.x\r\n.\r\n']) {
      for (let cut = 1; cut < start.length; cut++) {
        const b = Buffer.from(start, 'latin1');
        await assertSameAsLibrary([b.subarray(0, cut), b.subarray(cut)], JSON.stringify(start));
      }
      await assertSameAsLibrary([Buffer.from(start, 'latin1')], JSON.stringify(start));
    }
  });

  it('passes big chunks on as slices of the received bytes, without copying them', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'a');
    const chunks = [chunk, Buffer.from(chunk), Buffer.from('\r\n.\r\n')];
    const ours = await parse(feedDataStream, chunks);
    assert.equal(ours.message.length, 2 * 64 * 1024 + 2);
    const copied = ours.pieces.filter((p) => p.length > 1024 && p.buffer !== chunks[0]!.buffer && p.buffer !== chunks[1]!.buffer);
    assert.deepEqual(copied.map((p) => p.length), []);
  });
});
