// `hpfeeds`: the command-line client, mirroring the reference `hpfeeds subscribe|publish`.
import fs from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { HpfeedsClient, type HpfeedsClientOptions, type HpfeedsMessage } from 'catchall-lmtp/hpfeeds';
import { parseIntOption, runCli, UsageError } from './cli/args.js';
import { messageLine } from './cli/message-line.js';

const USAGE = `Usage: hpfeeds subscribe|publish [options] [PAYLOAD...]

  hpfeeds subscribe -i IDENT -s SECRET -c CHANNEL [--count N] [--timeout S]
      Prints one JSON line per message: {"ident","channel","payload","sha256"}. The payload is
      text when it is valid UTF-8, otherwise base64 with "encoding":"base64". For the collector's
      JSON spam payloads ({"sha256","msg"[,"encoding"]}) "sha256" is recomputed over the message
      bytes and "sha256_ok" says whether it matches. Once subscribed it says so on stderr.
  hpfeeds publish -i IDENT -s SECRET -c CHANNEL [PAYLOAD...]
      Publishes PAYLOAD (the arguments joined by spaces), or the exact bytes of stdin when no
      PAYLOAD or "-" is given.

Options:
  --host HOST          broker host (default 127.0.0.1)
  -p, --port PORT      broker port (default 10000)
  -i, --ident IDENT    ident to authenticate as
  -s, --secret SECRET  its secret (or set HPFEEDS_SECRET, which keeps it out of the process list)
  -c, --channel CHAN   channel; repeatable (--chan is accepted too)
  --tls                connect with TLS, verifying the broker certificate
  --ca FILE            PEM CA bundle to verify the broker with (implies --tls)
  --tls-insecure       TLS without certificate verification (implies --tls)
  --count N            subscribe: exit 0 after N messages
  --timeout S          subscribe: give up after S seconds; exit 1 if --count was not reached,
                       otherwise exit 0
  --max-frame-size N   largest frame to send or accept, in bytes (default 1048581)
  -h, --help           show this help

Exit status: 0 success, 1 connection/broker error or timeout, 2 usage error.
`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', short: 'p', default: '10000' },
      ident: { type: 'string', short: 'i' },
      secret: { type: 'string', short: 's' },
      channel: { type: 'string', short: 'c', multiple: true },
      chan: { type: 'string', multiple: true },
      tls: { type: 'boolean', default: false },
      ca: { type: 'string' },
      'tls-insecure': { type: 'boolean', default: false },
      count: { type: 'string' },
      timeout: { type: 'string' },
      'max-frame-size': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const [action, ...rest] = positionals;
  if (action !== 'subscribe' && action !== 'publish') {
    throw new UsageError(action === undefined ? 'give "subscribe" or "publish" as the action' : `unknown action "${action}" (use subscribe or publish)`);
  }
  const ident = values.ident;
  const secret = values.secret ?? process.env.HPFEEDS_SECRET;
  const channels = [...(values.channel ?? []), ...(values.chan ?? [])];
  if (!ident) throw new UsageError('-i/--ident is required');
  if (!secret) throw new UsageError('-s/--secret (or HPFEEDS_SECRET) is required');
  if (channels.length === 0) throw new UsageError('at least one -c/--channel is required');
  if (action === 'subscribe' && rest.length > 0) throw new UsageError(`subscribe takes no payload, got "${rest.join(' ')}"`);
  if (action === 'publish' && (values.count !== undefined || values.timeout !== undefined)) {
    throw new UsageError('--count and --timeout apply to subscribe only');
  }
  const port = parseIntOption('port', values.port, 1, 65535)!;
  const count = parseIntOption('count', values.count, 1);
  const timeoutS = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutS !== undefined && !(timeoutS > 0)) throw new UsageError(`--timeout must be a positive number of seconds, got "${values.timeout}"`);
  const maxFrameSize = parseIntOption('max-frame-size', values['max-frame-size'], 5 + 256 + 20, 2 ** 32 - 1);

  const useTls = values.tls || values['tls-insecure'] || values.ca !== undefined;
  const opts: HpfeedsClientOptions = {
    host: values.host,
    port,
    ident,
    secret,
    ...(maxFrameSize !== undefined ? { maxFrameSize } : {}),
    ...(useTls
      ? { tls: { rejectUnauthorized: !values['tls-insecure'], ...(values.ca !== undefined ? { ca: await readCa(values.ca) } : {}) } }
      : {}),
  };
  return action === 'subscribe'
    ? subscribe(opts, channels, count, timeoutS)
    : publish(opts, channels, rest);
}

async function readCa(file: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    throw new UsageError(`--ca: cannot read ${file}: ${(err as Error).message}`);
  }
}

const where = (o: HpfeedsClientOptions) => `${o.host}:${o.port}`;

async function subscribe(opts: HpfeedsClientOptions, channels: string[], count?: number, timeoutS?: number): Promise<number> {
  // Reconnects (and resubscribes) if the broker restarts; a broker ERROR, e.g. a denied channel, is final.
  const client = new HpfeedsClient(opts);
  let received = 0;
  const done = new Promise<number>((resolve) => {
    client.on('error', (err: Error & { text?: string }) => {
      process.stderr.write(`hpfeeds: broker error: ${err.text ?? err.message}\n`);
      resolve(1);
    });
    client.on('message', (m: HpfeedsMessage) => {
      if (count !== undefined && received >= count) return;
      received++;
      process.stdout.write(`${JSON.stringify(messageLine(m.ident, m.channel, m.payload))}\n`);
      if (count !== undefined && received >= count) resolve(0);
    });
    if (timeoutS !== undefined) {
      setTimeout(() => {
        if (count !== undefined) process.stderr.write(`hpfeeds: timed out after ${timeoutS} s: received ${received} of ${count} messages\n`);
        resolve(count === undefined ? 0 : 1);
      }, timeoutS * 1000).unref();
    }
    const stop = () => resolve(0);
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  try {
    await client.connect();
  } catch (err) {
    await client.close();
    throw new Error(`cannot connect to ${where(opts)}: ${(err as Error).message}`);
  }
  // Messages arrive through the 'message' event; the iterators are drained so they buffer nothing.
  for (const channel of channels) void drain(client.subscribe(channel));
  process.stderr.write(`hpfeeds: subscribed to ${channels.join(', ')} on ${where(opts)} as ${opts.ident}\n`);
  const code = await done;
  await client.close();
  return code;
}

async function drain(messages: AsyncIterableIterator<HpfeedsMessage>): Promise<void> {
  for await (const _ of messages) {
    // printed by the 'message' handler
  }
}

async function publish(opts: HpfeedsClientOptions, channels: string[], words: string[]): Promise<number> {
  const payload = words.length === 0 || (words.length === 1 && words[0] === '-') ? await readStdin() : Buffer.from(words.join(' '));
  const client = new HpfeedsClient({ ...opts, reconnect: false });
  let brokerError: string | undefined;
  client.on('error', (err: Error & { text?: string }) => (brokerError ??= err.text ?? err.message));
  try {
    await client.connect();
    for (const channel of channels) await client.publish(channel, payload);
  } catch (err) {
    await client.close();
    throw new Error(brokerError ? `broker error: ${brokerError}` : `publish to ${where(opts)} failed: ${(err as Error).message}`);
  }
  // hpfeeds has no publish acknowledgement; closing waits for the broker to close its side, by which
  // time an ERROR (e.g. a denied channel) has arrived.
  await client.close();
  if (brokerError) {
    process.stderr.write(`hpfeeds: broker error: ${brokerError}\n`);
    return 1;
  }
  return 0;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

runCli('hpfeeds', main);
