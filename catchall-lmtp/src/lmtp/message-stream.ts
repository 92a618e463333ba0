// Small stream stages the DATA stream passes through on its way into memory.
import { createHash, type Hash } from 'node:crypto';
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream';

/**
 * Counts bytes and flags a message over the limit. It keeps draining the client (ZoneMTA-style):
 * the LMTP reply can only be sent once the client has finished sending, and what is over the limit
 * is dropped instead of buffered.
 */
export class SizeLimit extends Transform {
  size = 0;
  exceeded = false;
  constructor(readonly limit: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.size += chunk.length;
    if (this.size > this.limit) this.exceeded = true;
    done(null, this.exceeded ? undefined : chunk);
  }
}

/** sha256 of the exact bytes, computed while they pass. */
export class Sha256 extends Transform {
  private readonly hash: Hash = createHash('sha256');
  digest = '';
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    done(null, chunk);
  }
  override _flush(done: TransformCallback): void {
    this.digest = this.hash.digest('hex');
    done();
  }
}

/** Keeps the chunks; `bytes()` joins them once at the end. */
export class Collect extends Writable {
  private chunks: Buffer[] = [];
  private length = 0;
  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    done();
  }
  bytes(): Buffer {
    const joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length);
    this.chunks = [];
    return joined;
  }
}

/**
 * Pipes the DATA stream through the stages and resolves once the last one has everything. Rejects
 * if the client goes away mid-DATA (smtp-server then destroys the stream). Plain pipe() instead of
 * stream.pipeline(): the latter allocates an AbortSignal per message, which showed in profiles.
 */
export function readThrough(source: Readable, stages: [Transform, ...Transform[]], last: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    source.once('error', reject);
    source.once('close', () => {
      if (!source.readableEnded) reject(new Error('connection closed during DATA'));
    });
    last.once('finish', resolve);
    let tail: Readable = source;
    for (const stage of stages) tail = tail.pipe(stage);
    tail.pipe(last);
  });
}
