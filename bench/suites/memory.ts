// Memory: the collector while 9 MB messages stream through it, and the hpfeeds broker with one slow
// subscriber. (The collector's peak at 50 sessions comes from the ingest runs.)
import { setTimeout as sleep } from 'node:timers/promises';
import { hpfeedsPeer } from '../lib/hpfeeds-peer.js';
import { readRss, resetPeak } from '../lib/memory.js';
import { waitUntil } from '../lib/process.js';
import { sendLoad } from '../lib/smtp-source.js';
import type { Plan } from '../plan.js';
import { startCollector, type CollectorMode } from '../servers/collector.js';
import { BENCH_IDENT, CHANNEL, startBroker } from '../servers/hpfeeds-broker.js';
import { checkDelivered } from './ingest.js';

export interface BigMessageResult {
  mode: CollectorMode;
  size: number;
  count: number;
  idleRss: number;
  peakRss: number;
  /** peak minus the idle RSS right before the messages streamed */
  growth: number;
}

export async function bigMessages(mode: CollectorMode, plan: Plan, log: (l: string) => void): Promise<BigMessageResult> {
  const collector = await startCollector(mode);
  try {
    const { size, count } = plan.bigMessage;
    // One small message first, so lazily loaded code is not counted as message memory.
    await sendLoad({ protocol: 'lmtp', port: collector.port, sessions: 1, count: 1, size: 1024, timeoutMs: plan.runTimeoutMs });
    await checkDelivered(collector, 1, plan.settleTimeoutMs);
    await sleep(200);
    resetPeak(collector.pid);
    const idleRss = readRss(collector.pid).rss;
    await sendLoad({ protocol: 'lmtp', port: collector.port, sessions: 1, count, size, timeoutMs: plan.runTimeoutMs });
    await checkDelivered(collector, 1 + count, plan.settleTimeoutMs);
    const peakRss = readRss(collector.pid).hwm;
    const r = { mode, size, count, idleRss, peakRss, growth: peakRss - idleRss };
    log(`memory ours:${mode} ${count} × ${size} B: idle ${mib(idleRss)} MiB, peak ${mib(peakRss)} MiB (+${mib(r.growth)} MiB)`);
    return r;
  } finally {
    await collector.stop();
  }
}

export interface SlowSubscriberResult {
  count: number;
  size: number;
  idleRss: number;
  peakRss: number;
  growth: number;
  /** what happened to the slow subscriber: the broker's ERROR text, or "kept up" */
  slowOutcome: string;
  fastReceived: number;
  ms: number;
}

/**
 * One subscriber that reads about 100 KB/s and one that reads at full speed, while a publisher
 * pushes count × size. The broker must keep its memory bounded (a send buffer limit, then a
 * deadline and a disconnect) without slowing the fast subscriber down.
 */
export async function slowSubscriber(plan: Plan, log: (l: string) => void): Promise<SlowSubscriberResult> {
  const broker = await startBroker();
  const peers: { close(): void }[] = [];
  try {
    const { count, size } = plan.slowSubscriber;
    const slow = await hpfeedsPeer(broker.port, BENCH_IDENT.ident, BENCH_IDENT.secret);
    const fast = await hpfeedsPeer(broker.port, BENCH_IDENT.ident, BENCH_IDENT.secret);
    const pub = await hpfeedsPeer(broker.port, BENCH_IDENT.ident, BENCH_IDENT.secret);
    peers.push(slow, fast, pub);
    slow.subscribe(CHANNEL);
    fast.subscribe(CHANNEL);
    await sleep(100);
    // The slow reader: the socket is paused and opened for 1 ms every 10 ms.
    slow.socket.pause();
    const throttle = setInterval(() => {
      slow.socket.resume();
      setTimeout(() => slow.socket.pause(), 1);
    }, 10);
    try {
      resetPeak(broker.pid);
      const idleRss = readRss(broker.pid).rss;
      const started = performance.now();
      const payload = Buffer.alloc(size, 'x');
      for (let i = 0; i < count; i++) await pub.publish(CHANNEL, payload);
      await waitUntil(() => fast.received() >= count, plan.runTimeoutMs, `the fast subscriber to get ${count} messages`);
      const ms = performance.now() - started;
      const peakRss = readRss(broker.pid).hwm;
      const slowOutcome = slow.error() ?? (slow.closed() ? 'disconnected without ERROR' : `still connected, ${slow.received()} received`);
      const r = { count, size, idleRss, peakRss, growth: peakRss - idleRss, slowOutcome, fastReceived: fast.received(), ms };
      log(`memory hpfeeds-broker, slow subscriber, ${count} × ${size} B: peak ${mib(peakRss)} MiB (+${mib(r.growth)} MiB); slow: ${slowOutcome}`);
      if (fast.received() !== count) throw new Error(`LOSS: the fast subscriber got ${fast.received()} of ${count}`);
      return r;
    } finally {
      clearInterval(throttle);
    }
  } finally {
    for (const p of peers) p.close();
    await broker.stop();
  }
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
