// A minimal hpfeeds peer for the benchmarks, on the project's codec: authenticates, then publishes
// with socket backpressure or counts what a subscription delivers. It is deliberately not the
// collector's client, so the bench measures the broker and collector, not itself.
import { connect, type Socket } from 'node:net';
import { authHash, encodeAuth, encodePublish, encodeSubscribe, FrameDecoder, type Frame } from 'catchall-lmtp/hpfeeds';

export interface HpfeedsPeer {
  socket: Socket;
  /** publish frames received */
  received(): number;
  /** distinct sha256 values seen in JSON payloads (or payload count when there is none) */
  distinct(): number;
  /** bytes of publish payloads received */
  bytes(): number;
  /** ERROR text from the broker, if any */
  error(): string | undefined;
  closed(): boolean;
  subscribe(channel: string): void;
  /** Resolves once the frame is handed to the kernel or queued below the socket's high-water mark. */
  publish(channel: string, payload: Buffer): Promise<void>;
  close(): void;
}

const SHA256_FIELD = /"sha256"\s*:\s*"([0-9a-f]{64})"/;

export async function hpfeedsPeer(port: number, ident: string, secret: string, maxFrame = 64 * 1024 * 1024): Promise<HpfeedsPeer> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  const decoder = new FrameDecoder({ limits: { publish: maxFrame, error: maxFrame } });
  const seen = new Set<string>();
  let received = 0;
  let bytes = 0;
  let errorText: string | undefined;
  let closed = false;
  let onInfo: ((f: Frame) => void) | undefined;
  const info = new Promise<Frame>((resolve, reject) => {
    onInfo = resolve;
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`hpfeeds ${ident}: closed before INFO`)));
  });
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  socket.on('data', (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) {
      if (f.op === 'info') onInfo?.(f);
      else if (f.op === 'error') errorText = f.text;
      else if (f.op === 'publish') {
        received++;
        bytes += f.payload.length;
        const m = f.payload.subarray(0, 256).toString('latin1').match(SHA256_FIELD);
        seen.add(m ? m[1]! : `#${received}`);
      }
    }
  });
  const first = await info;
  if (first.op !== 'info') throw new Error('hpfeeds: expected INFO');
  socket.write(encodeAuth(ident, authHash(first.nonce, secret)));
  return {
    socket,
    received: () => received,
    distinct: () => seen.size,
    bytes: () => bytes,
    error: () => errorText,
    closed: () => closed,
    subscribe(channel) {
      socket.write(encodeSubscribe(ident, channel));
    },
    publish(channel, payload) {
      if (socket.write(encodePublish(ident, channel, payload))) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const onDrain = (): void => {
          socket.off('close', onClose);
          resolve();
        };
        const onClose = (): void => {
          socket.off('drain', onDrain);
          reject(new Error(`hpfeeds ${ident}: connection closed while publishing (${errorText ?? 'no ERROR'})`));
        };
        socket.once('drain', onDrain);
        socket.once('close', onClose);
      });
    },
    close() {
      socket.destroy();
    },
  };
}
