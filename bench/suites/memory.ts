// Memory: the collector while 9 MB messages stream through it, and the hpfeeds broker with one slow
// subscriber. (The collector's peak at 50 sessions comes from the ingest runs.)
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { hpfeedsPeer, type HpfeedsPeer } from '../lib/hpfeeds-peer.js';
import { readRss, resetPeak } from '../lib/memory.js';
import { waitUntil } from '../lib/process.js';
import { sendLoad } from '../lib/smtp-source.js';
import type { Plan } from '../plan.js';
import { startCollector, type CollectorMode } from '../servers/collector.js';
import { BENCH_IDENT, CHANNEL, startBroker } from '../servers/hpfeeds-broker.js';
import { startSmtpServerNoop } from '../servers/noop.js';
import type { LmtpTarget } from '../servers/target.js';
import { checkDelivered } from './ingest.js';

export interface BigMessageResult {
  /** "ours:<mode>", or the reference "smtp-server no-op" */
  target: string;
  /** true for the reference, which is shown for scale and not judged */
  reference?: boolean;
  size: number;
  count: number;
  idleRss: number;
  peakRss: number;
  /** peak minus the idle RSS right before the messages streamed */
  growth: number;
}

export async function bigMessages(mode: CollectorMode, plan: Plan, log: (l: string) => void): Promise<BigMessageResult> {
  return bigMessagesThrough(await startCollector(mode), plan, log);
}

/**
 * The same through smtp-server answering 250 and discarding every byte: what the library and Node's
 * sockets alone cost while such messages stream, the floor under any collector built on them.
 */
export async function bigMessagesReference(plan: Plan, log: (l: string) => void): Promise<BigMessageResult> {
  return { ...(await bigMessagesThrough(await startSmtpServerNoop(), plan, log)), reference: true };
}

async function bigMessagesThrough(target: LmtpTarget, plan: Plan, log: (l: string) => void): Promise<BigMessageResult> {
  try {
    const { size, count } = plan.bigMessage;
    // One small message first, so lazily loaded code is not counted as message memory.
    await sendLoad({ protocol: 'lmtp', port: target.port, sessions: 1, count: 1, size: 1024, timeoutMs: plan.runTimeoutMs });
    await checkDelivered(target, 1, plan.settleTimeoutMs);
    await sleep(200);
    resetPeak(target.pid);
    const idleRss = readRss(target.pid).rss;
    await sendLoad({ protocol: 'lmtp', port: target.port, sessions: 1, count, size, timeoutMs: plan.runTimeoutMs });
    await checkDelivered(target, 1 + count, plan.settleTimeoutMs);
    const peakRss = readRss(target.pid).hwm;
    const r = { target: target.name, size, count, idleRss, peakRss, growth: peakRss - idleRss };
    log(`memory ${target.name} ${count} × ${size} B: idle ${mib(idleRss)} MiB, peak ${mib(peakRss)} MiB (+${mib(r.growth)} MiB)`);
    return r;
  } finally {
    await target.stop();
  }
}

export interface SlowSubscriberResult {
  count: number;
  size: number;
  /** broker peak RSS over the same publish with only the fast subscriber */
  withoutSlow: BrokerRun;
  withSlow: BrokerRun & {
    /** what happened to the slow subscriber */
    slowOutcome: string;
  };
}

interface BrokerRun {
  idleRss: number;
  peakRss: number;
  growth: number;
  /** from the first publish until the fast subscriber had every message */
  ms: number;
}

/**
 * A subscriber that reads SLOW_READER_BYTES_PER_SEC and one that reads at full speed, while a publisher
 * pushes count × size at PUBLISH_BYTES_PER_SEC; and the same publish without the slow one, for
 * comparison. The broker must keep its memory bounded (send buffer limit, deadline, disconnect) and
 * the fast subscriber must still get every message.
 */
export async function slowSubscriber(plan: Plan, log: (l: string) => void): Promise<SlowSubscriberResult> {
  const { count, size } = plan.slowSubscriber;
  const withoutSlow = await publishThroughBroker(plan, false);
  const withSlow = await publishThroughBroker(plan, true);
  log(
    `memory hpfeeds-broker, ${count} × ${size} B: peak ${mib(withoutSlow.peakRss)} MiB without a slow subscriber, ` +
      `${mib(withSlow.peakRss)} MiB with one; slow: ${withSlow.slowOutcome}`,
  );
  return { count, size, withoutSlow, withSlow };
}

async function publishThroughBroker(plan: Plan, withSlowReader: boolean): Promise<BrokerRun & { slowOutcome: string }> {
  const { count, size } = plan.slowSubscriber;
  const broker = await startBroker();
  const peers: HpfeedsPeer[] = [];
  const cleanups: (() => void)[] = [];
  try {
    const connectPeer = async (): Promise<HpfeedsPeer> => {
      const p = await hpfeedsPeer(broker.port, BENCH_IDENT.ident, BENCH_IDENT.secret);
      peers.push(p);
      return p;
    };
    const fast = await connectPeer();
    fast.subscribe(CHANNEL);
    const slow = withSlowReader ? await connectPeer() : undefined;
    if (slow) {
      slow.subscribe(CHANNEL);
      cleanups.push(throttle(slow.socket, SLOW_READER_BYTES_PER_SEC));
    }
    const pub = await connectPeer();
    await sleep(100); // SUBSCRIBE has no reply; let the broker register them
    resetPeak(broker.pid);
    const idleRss = readRss(broker.pid).rss;
    const started = performance.now();
    const payload = Buffer.alloc(size, 'x');
    // Paced, as the collector publishes at its ingest rate: an unpaced publisher in this same process
    // would starve the fast subscriber, which the broker then rightly drops as slow too.
    for (let i = 0; i < count; i++) {
      await pub.publish(CHANNEL, payload);
      const aheadMs = (((i + 1) * size) / PUBLISH_BYTES_PER_SEC) * 1000 - (performance.now() - started);
      if (aheadMs > 1) await sleep(aheadMs);
    }
    await waitUntil(() => fast.received() >= count, plan.runTimeoutMs, `the fast subscriber to get ${count} messages`).catch((err: Error) => {
      throw new Error(`LOSS: ${err.message}: it got ${fast.received()}${fast.error() ? `, ERROR ${fast.error()}` : ''}`);
    });
    const ms = performance.now() - started;
    const peakRss = readRss(broker.pid).hwm;
    if (fast.received() !== count) throw new Error(`the fast subscriber got ${fast.received()} messages for ${count} published`);
    // The broker's ERROR waits behind what is already queued for the slow reader, so its log tells first.
    const dropped = broker.output().match(/"why":"([^"]+)","msg":"disconnecting slow subscriber"/);
    const slowOutcome = !slow
      ? ''
      : dropped
        ? `disconnected by the broker (${dropped[1]})`
        : `still connected, ${slow.received()} of ${count} read so far`;
    return { idleRss, peakRss, growth: peakRss - idleRss, ms, slowOutcome };
  } finally {
    for (const c of cleanups) c();
    for (const p of peers) p.close();
    await broker.stop();
  }
}

export const SLOW_READER_BYTES_PER_SEC = 1_000_000;
export const PUBLISH_BYTES_PER_SEC = 25_000_000;

/** Lets `socket` read about `bytesPerSec`: paused whenever it is ahead of that budget. */
function throttle(socket: Socket, bytesPerSec: number): () => void {
  const started = performance.now();
  let read = 0;
  let timer: NodeJS.Timeout | undefined;
  const onData = (chunk: Buffer): void => {
    read += chunk.length;
    const aheadMs = (read / bytesPerSec) * 1000 - (performance.now() - started);
    if (aheadMs > 0 && !timer) {
      socket.pause();
      timer = setTimeout(() => {
        timer = undefined;
        socket.resume();
      }, aheadMs);
    }
  };
  socket.on('data', onData);
  return () => {
    socket.off('data', onData);
    if (timer) clearTimeout(timer);
  };
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
