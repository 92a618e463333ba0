// Real library clients for broker tests, closed together in after-hooks.
import { HpfeedsClient, type HpfeedsClientOptions, type HpfeedsMessage } from 'catchall-lmtp/hpfeeds';
import { eventually, SECRETS, type TestBroker } from './helpers.js';

/** Real library clients, closed together by `closeAll()` (in after-hooks). */
export class ClientPool {
  private readonly clients: HpfeedsClient[] = [];

  /** A client for the broker's port over its transport (TLS verified against the test certificate). */
  make(broker: Pick<TestBroker, 'port' | 'via'>, ident: string, extra: Partial<HpfeedsClientOptions> = {}): HpfeedsClient {
    const { port, via } = broker;
    const c = new HpfeedsClient({ host: '127.0.0.1', port, ident, secret: SECRETS[ident] ?? '', reconnect: false, tls: via.clientTls, ...extra });
    c.on('error', () => {}); // tests that care listen themselves
    this.clients.push(c);
    return c;
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled(this.clients.splice(0).map((c) => c.close()));
  }
}

/** Connects the client and subscribes it to a channel, collecting what arrives there. */
export async function subscribed(client: HpfeedsClient, channel: string): Promise<Collected> {
  const got = collect(client);
  await client.connect();
  client.subscribe(channel);
  return got;
}

/** Collects messages from a client subscription into an array (bounded waits via `waitFor`). */
export interface Collected {
  messages: HpfeedsMessage[];
  waitFor(n: number, ms?: number): Promise<void>;
}

export function collect(client: HpfeedsClient): Collected {
  const messages: HpfeedsMessage[] = [];
  client.on('message', (m: HpfeedsMessage) => messages.push(m));
  return { messages, waitFor: (n, ms = 5000) => eventually(`${n} messages (have ${messages.length})`, () => messages.length >= n, ms).then(() => undefined) };
}
