// Prometheus metrics with the reference broker's names and labels (hpfeeds/broker/prometheus.py), so
// existing dashboards work. The Python client exposes counters with a `_total` suffix, and so do we.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** One authenticated connection's buffered bytes at scrape time. */
export interface BufferSample {
  ident: string;
  sendBytes: number;
  receiveBytes: number;
}

export class BrokerMetrics {
  readonly clientConnections: Gauge;
  readonly connectionMade: Counter;
  readonly connectionReady: Counter<'ident'>;
  readonly connectionError: Counter<'ident' | 'category'>;
  readonly connectionLost: Counter<'ident'>;
  readonly sendBufferSize: Gauge<'ident'>;
  readonly receiveBufferSize: Gauge<'ident'>;
  readonly receiveBufferFill: Counter<'ident'>;
  readonly sendBufferFill: Counter<'ident'>;
  readonly sendBufferDrain: Counter<'ident'>;
  readonly sendBufferDeadlineStart: Counter<'ident'>;
  readonly sendBufferDeadlineRecover: Counter<'ident'>;
  readonly subscriptions: Gauge<'ident' | 'chan'>;
  readonly receivePublishCount: Counter<'ident' | 'chan'>;
  readonly receivePublishSize: Histogram<'ident' | 'chan'>;

  /** @param sampleBuffers called on each scrape to fill the per-ident buffer-size gauges. */
  constructor(
    readonly registry: Registry,
    sampleBuffers: () => Iterable<BufferSample>,
  ) {
    const registers = [registry];
    this.clientConnections = new Gauge({ name: 'hpfeeds_broker_client_connections', help: 'Number of clients connected to broker', registers });
    this.connectionMade = new Counter({ name: 'hpfeeds_broker_connection_made_total', help: 'Number of connections established', registers });
    this.connectionReady = new Counter({ name: 'hpfeeds_broker_connection_ready_total', help: 'Number of connections established + authenticated', labelNames: ['ident'], registers });
    this.connectionError = new Counter({ name: 'hpfeeds_broker_connection_error_total', help: 'Number of connections that experienced a protocol error', labelNames: ['ident', 'category'], registers });
    this.connectionLost = new Counter({ name: 'hpfeeds_broker_connection_lost_total', help: 'Number of connections lost', labelNames: ['ident'], registers });
    // Buffer sizes are sampled from the live connections at scrape time, each gauge on its own.
    const sampled = (name: string, help: string, pick: (s: BufferSample) => number) => {
      const gauge: Gauge<'ident'> = new Gauge({
        name,
        help,
        labelNames: ['ident'],
        registers,
        collect() {
          gauge.reset();
          for (const s of sampleBuffers()) gauge.inc({ ident: s.ident }, pick(s));
        },
      });
      return gauge;
    };
    this.sendBufferSize = sampled('hpfeeds_broker_connection_send_buffer_size', 'Number of bytes queued for transmission', (s) => s.sendBytes);
    this.receiveBufferSize = sampled('hpfeeds_broker_connection_receive_buffer_size', 'Number of bytes received but not yet parsed', (s) => s.receiveBytes);
    this.receiveBufferFill = new Counter({ name: 'hpfeeds_broker_connection_receive_buffer_fill_total', help: 'Number of bytes queued in the parsing buffer', labelNames: ['ident'], registers });
    this.sendBufferFill = new Counter({ name: 'hpfeeds_broker_connection_send_buffer_fill_total', help: 'Number of bytes queued in the send buffer', labelNames: ['ident'], registers });
    this.sendBufferDrain = new Counter({ name: 'hpfeeds_broker_connection_send_buffer_drain_total', help: 'Number of bytes drained from the send buffer and sent', labelNames: ['ident'], registers });
    this.sendBufferDeadlineStart = new Counter({ name: 'hpfeeds_broker_connection_send_buffer_deadline_start_total', help: 'High watermark was exceeded and this connection was put on a deadline timer', labelNames: ['ident'], registers });
    this.sendBufferDeadlineRecover = new Counter({ name: 'hpfeeds_broker_connection_send_buffer_deadline_recover_total', help: 'Buffer recovered to low watermark or better and deadline timer was cancelled', labelNames: ['ident'], registers });
    this.subscriptions = new Gauge({ name: 'hpfeeds_broker_subscriptions', help: 'Number of subscriptions to a channel', labelNames: ['ident', 'chan'], registers });
    this.receivePublishCount = new Counter({ name: 'hpfeeds_broker_receive_publish_count_total', help: 'Number of events received by broker for a channel', labelNames: ['ident', 'chan'], registers });
    this.receivePublishSize = new Histogram({
      name: 'hpfeeds_broker_receive_publish_size',
      help: 'Sizes of messages received by broker for a channel',
      labelNames: ['ident', 'chan'],
      buckets: [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4194304],
      registers,
    });
  }
}
