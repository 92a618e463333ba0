// Prometheus metrics of the collector, on a registry of its own (tests create several collectors
// in one process). The core times every sink.deliver; sinks themselves do not touch metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type MessageResult = 'accepted' | 'deferred' | 'oversize' | 'aborted';

export class Metrics {
  readonly registry = new Registry();

  readonly messages = new Counter({
    name: 'catchall_messages_total',
    help: 'LMTP messages by result: accepted (250), deferred (4xx: a sink or the spool failed), oversize (4xx), aborted (client left mid-DATA)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly bytes = new Counter({
    name: 'catchall_message_bytes_total',
    help: 'Bytes of accepted messages',
    registers: [this.registry],
  });

  readonly publishSeconds = new Histogram({
    name: 'catchall_sink_publish_seconds',
    help: 'Time from handing a message to a sink until it confirmed or failed',
    labelNames: ['sink', 'result'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15],
    registers: [this.registry],
  });

  readonly sessions = new Gauge({
    name: 'catchall_lmtp_sessions',
    help: 'Open LMTP connections',
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Reports each sink's readiness whenever /metrics is scraped. */
  watchSinks(sinks: ReadonlyArray<{ name: string; isReady(): boolean }>): void {
    new Gauge({
      name: 'catchall_sink_connected',
      help: '1 while the sink is connected and can accept messages',
      labelNames: ['sink'] as const,
      registers: [this.registry],
      collect() {
        for (const s of sinks) this.set({ sink: s.name }, s.isReady() ? 1 : 0);
      },
    });
  }

  /** Reports the number of spooled messages not yet confirmed by every sink. */
  watchSpool(depth: () => number): void {
    new Gauge({
      name: 'catchall_spool_depth',
      help: 'Messages in the spool (new/) not yet confirmed by every sink',
      registers: [this.registry],
      collect() {
        this.set(depth());
      },
    });
  }
}
