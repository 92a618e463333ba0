// The IMAP side's own metrics, on the LMTP collector's registry (which already times every sink
// publish and reports sink connectivity), so one /metrics shows both.
import type { Metrics } from 'catchall-lmtp/ops/metrics';
import { Counter, Gauge } from 'prom-client';

export class ImapMetrics {
  readonly messages: Counter<'mailbox' | 'result'>;
  readonly bytes: Counter<'mailbox'>;
  readonly connected: Gauge<'mailbox'>;
  readonly sessionFailures: Counter<'mailbox'>;

  constructor(metrics: Metrics) {
    const registers = [metrics.registry];
    this.messages = new Counter({
      name: 'imap_collector_messages_total',
      help: 'Messages by result: collected (every sink confirmed, then marked or deleted) or deferred (a sink refused; left on the server)',
      labelNames: ['mailbox', 'result'] as const,
      registers,
    });
    this.bytes = new Counter({
      name: 'imap_collector_message_bytes_total',
      help: 'Bytes of collected messages',
      labelNames: ['mailbox'] as const,
      registers,
    });
    this.connected = new Gauge({
      name: 'imap_collector_mailbox_connected',
      help: '1 while the mailbox has an open IMAP session',
      labelNames: ['mailbox'] as const,
      registers,
    });
    this.sessionFailures = new Counter({
      name: 'imap_collector_session_failures_total',
      help: 'IMAP sessions that failed (connect, login, TLS, or a dropped connection)',
      labelNames: ['mailbox'] as const,
      registers,
    });
  }
}
