// Maps a mailbox entry onto imapflow's connection options.
import type { ImapFlowOptions } from 'imapflow';
import type { Logger } from 'pino';
import type { MailboxConfig } from '../mailboxes/schema.js';

export interface SessionTiming {
  /** Break and restart IDLE this often; also when a server without IDLE is polled by imapflow. */
  idleRestartMs: number;
  connectTimeoutMs: number;
}

export function clientOptions(mailbox: MailboxConfig, timing: SessionTiming, logger: Logger): ImapFlowOptions {
  return {
    host: mailbox.host,
    port: mailbox.port,
    secure: mailbox.tls === 'implicit',
    // true: STARTTLS is required (a server that does not offer it fails the connection);
    // false: stay in cleartext. Never "upgrade if offered", which a downgrade attack could strip.
    doSTARTTLS: mailbox.tls === 'starttls' ? true : mailbox.tls === 'none' ? false : undefined,
    tls: { rejectUnauthorized: mailbox.verifyCert, servername: isIp(mailbox.host) ? undefined : mailbox.host },
    auth: { user: mailbox.username, pass: mailbox.password },
    // BINARY[] would let the server undo Content-Transfer-Encoding; we need the stored bytes as they are.
    disableBinary: true,
    // COMPRESS changes nothing about the bytes, but it hides the wire from debugging tools; traps are small.
    disableCompression: true,
    // The worker decides when to IDLE (after each collection pass), so imapflow never IDLEs between our commands.
    disableAutoIdle: true,
    maxIdleTime: timing.idleRestartMs,
    missingIdleCommand: 'NOOP',
    connectionTimeout: timing.connectTimeoutMs,
    greetingTimeout: timing.connectTimeoutMs,
    logger,
  };
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}
