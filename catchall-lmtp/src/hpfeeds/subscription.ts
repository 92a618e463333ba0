// The async iterator behind HpfeedsClient.subscribe(): a queue of messages for one channel.
// The queue is bounded in bytes. A consumer that falls further behind (or an iterator nobody reads)
// is ended with a SUBSCRIPTION_OVERFLOW error from next(), instead of stalling the whole connection
// or growing without bound; 'message' events keep flowing for everyone else.
import { HpfeedsClientError } from './errors.js';

export interface HpfeedsMessage {
  /** The publisher's authenticated ident, as rewritten by the broker. */
  ident: string;
  channel: string;
  payload: Buffer;
}

export class MessageIterator implements AsyncIterableIterator<HpfeedsMessage> {
  private queue: HpfeedsMessage[] = [];
  private head = 0;
  private queuedBytes = 0;
  private waiter: ((r: IteratorResult<HpfeedsMessage>) => void) | undefined;
  private ended = false;
  private overflow: HpfeedsClientError | undefined;

  constructor(
    readonly channel: string,
    private readonly maxQueuedBytes: number,
    /** Told once when this iterator stops taking messages (consumer returned, or overflow). */
    private readonly onDetach: (it: MessageIterator, overflow?: HpfeedsClientError) => void,
  ) {}

  push(message: HpfeedsMessage): void {
    if (this.ended) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: message, done: false });
      return;
    }
    // An empty queue always takes a message, so one large message alone never overflows.
    if (this.head < this.queue.length && this.queuedBytes + message.payload.length > this.maxQueuedBytes) {
      this.overflow = new HpfeedsClientError(
        'SUBSCRIPTION_OVERFLOW',
        `subscription iterator for channel "${this.channel}" fell more than ${this.maxQueuedBytes} bytes behind and was ended`,
      );
      // What is queued is still delivered; next() then rejects with the overflow.
      this.ended = true;
      this.onDetach(this, this.overflow);
      return;
    }
    this.queue.push(message);
    this.queuedBytes += message.payload.length;
  }

  /** No more messages will come (unsubscribe or close); what is queued is still delivered. */
  end(): void {
    this.ended = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<HpfeedsMessage>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head++]!;
      this.queuedBytes -= value.payload.length;
      if (this.head === this.queue.length) this.clear();
      return Promise.resolve({ value, done: false });
    }
    if (this.overflow) {
      const err = this.overflow;
      this.overflow = undefined; // reported once; afterwards the iterator is simply done
      return Promise.reject(err);
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiter = resolve));
  }

  return(): Promise<IteratorResult<HpfeedsMessage>> {
    this.clear();
    if (!this.ended) this.onDetach(this);
    this.overflow = undefined;
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private clear(): void {
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
  }
}
