// In-process sinks for LMTP-level tests. Sink is our own interface, not a process boundary: the
// boundary-crossing tests against RabbitMQ and hpfeeds live in test/integration/.
import { createHash } from 'node:crypto';
import { SinkError, type CollectedMessage, type Sink } from '../../src/sinks/sink.js';

/** Keeps every delivered message; can be switched to fail or to hold deliveries until released. */
export class RecordingSink implements Sink {
  readonly messages: CollectedMessage[] = [];
  failWith?: string;
  ready = true;
  private held: Array<() => void> = [];
  private holding = false;

  constructor(readonly name = 'recorder') {}

  async start(): Promise<void> {}

  async deliver(message: CollectedMessage): Promise<void> {
    if (this.holding) await new Promise<void>((resolve) => this.held.push(resolve));
    if (this.failWith) throw new SinkError(this.name, this.failWith);
    // The sha256 the core computed while streaming must be the hash of the bytes it hands over.
    const actual = createHash('sha256').update(message.bytes).digest('hex');
    if (actual !== message.sha256) throw new SinkError(this.name, `sha256 mismatch: ${message.sha256} != ${actual}`);
    this.messages.push(message);
  }

  /** Deliveries wait until release() — to observe what happens while a publish is in flight. */
  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    for (const resolve of this.held.splice(0)) resolve();
  }

  get pending(): number {
    return this.held.length;
  }

  isReady(): boolean {
    return this.ready;
  }

  async close(): Promise<void> {
    this.release();
  }
}
