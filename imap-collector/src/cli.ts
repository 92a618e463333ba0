// imap-collector command line, compatible with the seed (`-f FEED_CONFIG -m MAILBOX_CONFIG -a -d -c -v`).
// The feed config is the LMTP collector's (same file, formats, env variables and sinks).
// Exit codes: 0 done (or clean stop), 1 a mailbox could not be collected, 2 invalid command line or configuration.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from 'catchall-lmtp/config/errors';
import { createCollector, describeSettings, loadSettings } from './app.js';
import { loadEnvFile } from 'catchall-lmtp/config/dotenv';
import { exitWith } from 'catchall-lmtp/ops/exit';

const USAGE = `Usage: imap-collector -m MAILBOX_CONFIG [-f FEED_CONFIG] [options]

Collects spam from trap mailboxes over IMAP and forwards every message, byte for byte, to the same
sinks as catchall-lmtp (AMQP, hpfeeds, maildir). A message is marked \\Seen (or deleted with -d) only
after every sink confirmed it; otherwise it stays on the server and is collected on the next pass.

Options:
  -f, --feed-config FILE      sinks: catchall-lmtp's YAML config (any of its formats) [IMAP_FEED_CONFIG]
  -m, --mailbox-config FILE   YAML list of mailboxes (username, password, host, ...)  [IMAP_MAILBOX_CONFIG]
  -a, --fetch-all             collect every message not collected yet, not only unseen ones
  -d, --delete                delete and expunge collected messages instead of marking them \\Seen
                                (without UIDPLUS on the server: only flag them \\Deleted)
  -c, --continuous-fetch      keep running: IMAP IDLE (polling without it), reconnect on failure
      --maildir DIR           also archive every message into this maildir (a sink like the others)
                                                                                       [IMAP_MAILDIR]
      --state-dir DIR         where the per-mailbox UID state lives (default ./imap-collector-state)
                                                                                       [IMAP_STATE_DIR]
      --poll-interval SEC     how often to look for mail on servers without IDLE (default 15)
      --sink-wait SEC         one-shot: how long to wait for the sinks to connect (default 10)
      --metrics-port PORT     HTTP /metrics /healthz /readyz (default 9125 with -c; off otherwise)
                                                                           [IMAP_COLLECTOR_METRICS_PORT]
      --metrics-host HOST     (default 127.0.0.1)                          [IMAP_COLLECTOR_METRICS_HOST]
      --dotenv FILE           dotenv file to load (default: .env if present)
  -v, --verbose               debug logging, including the IMAP dialogue (passwords hidden)
      --check-config          validate both configs, print them (secrets masked) and exit
  -h, --help                  this text
      --version               print the version

Sinks can also come from the environment alone (AMQP_URL, HPFEEDS_HOST, ...): see catchall-lmtp/README.md.
`;

const DEFAULT_METRICS_PORT = 9125; // next to catchall-lmtp's 9124, so both can run on one host

function parseCommandLine(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'feed-config': { type: 'string', short: 'f' },
        'mailbox-config': { type: 'string', short: 'm' },
        'fetch-all': { type: 'boolean', short: 'a' },
        delete: { type: 'boolean', short: 'd' },
        'continuous-fetch': { type: 'boolean', short: 'c' },
        maildir: { type: 'string' },
        'state-dir': { type: 'string' },
        'poll-interval': { type: 'string' },
        'sink-wait': { type: 'string' },
        'metrics-port': { type: 'string' },
        'metrics-host': { type: 'string' },
        dotenv: { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        'check-config': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    }).values;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n\n${USAGE}`);
  }
}

function number(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < min || n > max) throw new ConfigError(`${name}: expected a whole number from ${min} to ${max}; got ${JSON.stringify(value)}`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const args = parseCommandLine(argv);
  if (args.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (args.version) {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  loadEnvFile(args.dotenv);
  const env = process.env;
  const mailboxConfig = args['mailbox-config'] ?? (env.IMAP_MAILBOX_CONFIG || undefined);
  if (!mailboxConfig) throw new ConfigError(`no mailbox config: give -m FILE or set IMAP_MAILBOX_CONFIG\n\n${USAGE}`);
  const continuous = args['continuous-fetch'] === true;
  const metricsPortText = args['metrics-port'] ?? (env.IMAP_COLLECTOR_METRICS_PORT || undefined);
  // The ops endpoint serves a long-running process; a one-shot run has it only when asked for.
  const metricsPort = metricsPortText !== undefined ? number('--metrics-port', metricsPortText, 0, 65535) : continuous ? DEFAULT_METRICS_PORT : undefined;
  const loaded = await loadSettings({
    feedConfig: args['feed-config'] ?? (env.IMAP_FEED_CONFIG || undefined),
    mailboxConfig,
    maildir: args.maildir ?? (env.IMAP_MAILDIR || undefined),
    fetchAll: args['fetch-all'] === true,
    deleteAfter: args.delete === true,
    continuous,
    stateDir: args['state-dir'] ?? (env.IMAP_STATE_DIR || 'imap-collector-state'),
    sinkWaitMs: number('--sink-wait', args['sink-wait'] ?? '10', 0, 600) * 1000,
    timing: args['poll-interval'] === undefined ? {} : { pollIntervalMs: number('--poll-interval', args['poll-interval'], 1, 3600) * 1000 },
    metrics: metricsPort === undefined ? undefined : { host: args['metrics-host'] ?? (env.IMAP_COLLECTOR_METRICS_HOST || undefined), port: metricsPort },
    verbose: args.verbose === true,
    env,
  });
  if (args['check-config']) {
    process.stdout.write(JSON.stringify(describeSettings(loaded), null, 2) + '\n');
    return 0;
  }

  const service = createCollector(loaded);
  const logger = service.logger;
  try {
    await service.start();
  } catch (err) {
    logger.fatal({ err }, `cannot start: ${(err as Error).message}`);
    await service.stop().catch(() => undefined);
    return 1;
  }

  let stopping = false;
  const finished = service.done().then(async (outcomes) => {
    await service.stop();
    const failed = outcomes.filter((o) => o.error !== undefined);
    logger.info({ collected: outcomes.reduce((n, o) => n + o.collected, 0), failed: failed.map((o) => o.mailbox) }, 'done');
    return failed.length > 0 && !stopping ? 1 : 0;
  });
  // SIGTERM/SIGINT: finish the message in hand on every mailbox, close the sinks, exit 0.
  // A second signal while that runs exits at once (1), as catchall-lmtp does.
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal while stopping: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void service.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return finished;
}

exitWith('imap-collector', main(process.argv.slice(2)));
