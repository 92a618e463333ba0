// Real library clients for broker tests, closed together in after-hooks.
import { HpfeedsClient, type HpfeedsClientOptions, type HpfeedsMessage } from 'catchall-lmtp/hpfeeds';
import { eventually, SECRETS } from './helpers.js';

/** A real library client; closed by the caller (use `clients.closeAll()` in after-hooks). */
export class ClientPool {
  private readonly clients: HpfeedsClient[] = [];

  make(port: number, ident: string, extra: Partial<HpfeedsClientOptions> = {}): HpfeedsClient {
    const c = new HpfeedsClient({ host: '127.0.0.1', port, ident, secret: SECRETS[ident] ?? '', reconnect: false, ...extra });
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
