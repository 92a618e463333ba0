// Reads one message from smtp-server's DATA stream into memory: its exact bytes, their sha256
// computed while they pass, and its size against the limit. One object with plain 'data'/'end'
// listeners rather than a pipe through Transform stages: per message, setting up and tearing down a
// pipeline of three streams cost more CPU than everything else the LMTP layer does.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

export interface ReceivedMessage {
  /** The exact bytes; empty when the message was over the limit (they were not kept). */
  bytes: Buffer;
  sha256: string;
  /** Bytes received, including any over the limit. */
  size: number;
  exceeded: boolean;
}

/** The client went away (or the DATA deadline passed) before the final dot. */
export class DataAborted extends Error {
  constructor(
    message: string,
    /** Bytes received until then. */
    readonly received: number,
  ) {
    super(message);
    this.name = 'DataAborted';
  }
}

/**
 * Resolves once the final dot was read. Past `limit` it keeps draining the client (ZoneMTA-style:
 * the LMTP reply can only be sent once the client has finished sending) and drops what it reads.
 * Rejects with DataAborted if the client goes away mid-DATA (smtp-server then destroys the stream).
 */
export function readMessage(source: Readable, limit: number): Promise<ReceivedMessage> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let chunks: Buffer[] = [];
    let size = 0;
    let exceeded = false;
    source.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (exceeded) return;
      if (size > limit) {
        exceeded = true;
        chunks = [];
        return;
      }
      hash.update(chunk);
      chunks.push(chunk);
    });
    source.once('end', () => {
      const bytes = exceeded ? Buffer.alloc(0) : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      chunks = [];
      resolve({ bytes, sha256: hash.digest('hex'), size, exceeded });
    });
    source.once('error', (err) => reject(new DataAborted(err.message, size)));
    source.once('close', () => {
      if (!source.readableEnded) reject(new DataAborted('connection closed during DATA', size));
    });
  });
}
