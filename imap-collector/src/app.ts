// From settings (command line and environment, already parsed) to a ready-to-start collector: loads
// the feed config with catchall-lmtp's loader, the mailbox list, and builds the sinks and the service.
// The CLI and the tests both go through here.
import { ConfigError } from 'catchall-lmtp/config/errors';
import { loadConfig, redact } from 'catchall-lmtp/config/load';
import type { Config, SinkConfig } from 'catchall-lmtp/config/schema';
import { createSinks } from 'catchall-lmtp/delivery/create-sinks';
import { createLogger } from 'catchall-lmtp/ops/logger';
import type { Logger } from 'pino';
import { loadMailboxConfig } from './mailboxes/load.js';
import { mailboxId, type MailboxConfig } from './mailboxes/schema.js';
import type { WorkerTiming } from './imap/mailbox-worker.js';
import { ImapCollectorService, type ImapCollectorOptions } from './service.js';

export interface Settings {
  feedConfig?: string;
  mailboxConfig: string;
  /** Adds a maildir sink (archive). */
  maildir?: string;
  fetchAll: boolean;
  deleteAfter: boolean;
  continuous: boolean;
  stateDir: string;
  sinkWaitMs: number;
  /** Poll interval, backoff and the like; defaults in imap/mailbox-worker.ts. */
  timing?: Partial<WorkerTiming>;
  metrics?: { host?: string; port: number };
  verbose: boolean;
  env: NodeJS.ProcessEnv;
}

export interface LoadedSettings {
  /** catchall-lmtp's config, its sinks plus the --maildir one. */
  config: Config;
  mailboxes: MailboxConfig[];
  options: ImapCollectorOptions;
}

/** Validates everything; throws ConfigError (exit code 2) naming the problem. */
export async function loadSettings(s: Settings): Promise<LoadedSettings> {
  let config: Config;
  try {
    // catchall-lmtp's spool directory is not ours (the mailbox is the outbox here), so its variable is
    // dropped; `spool.dir` only carries --maildir past the loader's "no destination" check.
    config = loadConfig({
      file: s.feedConfig,
      env: { ...s.env, CATCHALL_MAILDIR: undefined },
      overrides: { 'spool.dir': s.maildir, 'log.level': s.verbose ? 'debug' : undefined },
    });
  } catch (err) {
    if (err instanceof ConfigError && err.message.startsWith('no destination configured')) {
      throw new ConfigError('no destination configured: give a feed config with sinks (-f), set AMQP_URL/AMQP_HOST or HPFEEDS_HOST, or --maildir DIR');
    }
    throw err;
  }
  const sinks: SinkConfig[] = [...config.sinks, ...(s.maildir ? [{ type: 'maildir' as const, dir: s.maildir }] : [])];
  if (sinks.length === 0) throw new ConfigError('no destination configured: the feed config has no sinks; add some, or give --maildir DIR');
  const mailboxes = await loadMailboxConfig(s.mailboxConfig, s.env);
  return {
    config: { ...config, sinks },
    mailboxes,
    options: {
      mailboxes,
      fetchAll: s.fetchAll,
      deleteAfter: s.deleteAfter,
      continuous: s.continuous,
      stateDir: s.stateDir,
      sinkConnectWaitMs: s.sinkWaitMs,
      metrics: s.metrics && { host: s.metrics.host ?? config.metrics.host, port: s.metrics.port },
      timing: s.timing,
    },
  };
}

/** What --check-config prints: both configs, secrets masked. */
export function describeSettings(loaded: LoadedSettings): unknown {
  return {
    sinks: (redact(loaded.config) as { sinks: unknown }).sinks,
    format: loaded.config.format,
    mailboxes: loaded.mailboxes.map((m) => ({ ...m, password: '***' })),
    options: { ...loaded.options, mailboxes: loaded.mailboxes.map(mailboxId) },
  };
}

export function createCollector(loaded: LoadedSettings, logger?: Logger): ImapCollectorService {
  const log = logger ?? createLogger(loaded.config.log.level, 'imap-collector');
  // imapflow logs every command at debug and info; only its warnings matter unless -v.
  const imapLogger = log.child({ component: 'imapflow' }, { level: loaded.config.log.level === 'debug' || loaded.config.log.level === 'trace' ? 'debug' : 'warn' });
  log.info({ sinks: (redact(loaded.config) as { sinks: unknown }).sinks, format: loaded.config.format, mailboxes: loaded.mailboxes.map(mailboxId) }, 'starting');
  return new ImapCollectorService(loaded.options, { logger: log, imapLogger, sinks: createSinks(loaded.config, log, 'imap-collector') });
}
