// How big a run is. The full plan keeps `make bench` well under 10 minutes on 2 cores; the smoke plan
// runs one small configuration of each kind in seconds, so the harness itself is tested by `make test`.
import type { CollectorMode } from './servers/collector.js';

export interface Plan {
  smoke: boolean;
  sizes: number[];
  sessions: number[];
  /** messages sent before each measurement (JIT warm-up, and the rate estimate that sizes the run) */
  warmup: (size: number) => number;
  /** the measured run lasts about this long at the warm-up's rate... */
  targetSeconds: number;
  /** ...within these bounds */
  minCount: (sessions: number, size: number) => number;
  maxCount: (size: number) => number;
  /**
   * Measured rounds of one ingest point; each round runs every target in turn and the median round is
   * reported. More than one where the ratios are read (4 KiB, 10 sessions): this machine's
   * background load moves a single 2.5 s run by ±20%.
   */
  rounds: (size: number, sessions: number) => number;
  /** upper time bound of any single load run */
  runTimeoutMs: number;
  /** how long a destination may lag behind the last 250 before it counts as a loss */
  settleTimeoutMs: number;
  /**
   * `warmup` messages go through first, untimed; `rounds`: each round relays to every next hop in turn,
   * the median round is reported
   */
  postfix: { count: number; sessions: number; size: number; rounds: number; warmup: number };
  /** what Postfix relays to, in the through-Postfix measure (collector modes when the collector is there) */
  postfixNexts: ('smtp-sink' | CollectorMode)[];
  /** collector modes measured while large messages stream */
  bigMessageModes: CollectorMode[];
  bigMessage: { size: number; count: number };
  fanout: { subscribers: number; count: number; size: number };
  slowSubscriber: { count: number; size: number };
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const fullPlan: Plan = {
  smoke: false,
  sizes: [4 * KiB, 64 * KiB, MiB],
  sessions: [1, 10, 50],
  warmup: (size) => (size >= MiB ? 20 : size >= 64 * KiB ? 150 : 300),
  targetSeconds: 2.5,
  minCount: (sessions, size) => (size >= MiB ? Math.max(20, sessions) : Math.max(50, sessions * 4)),
  maxCount: (size) => (size >= MiB ? 1500 : size >= 64 * KiB ? 8000 : 30_000),
  rounds: (size, sessions) => (size === 4 * KiB && sessions === 10 ? 3 : 1),
  runTimeoutMs: 90_000,
  settleTimeoutMs: 30_000,
  postfix: { count: 3000, sessions: 10, size: 4 * KiB, rounds: 3, warmup: 600 },
  postfixNexts: ['smtp-sink', 'amqp', 'hpfeeds'],
  bigMessageModes: ['spool', 'amqp', 'hpfeeds'],
  bigMessage: { size: 9_000_000, count: 6 },
  fanout: { subscribers: 10, count: 20_000, size: 4 * KiB },
  slowSubscriber: { count: 1500, size: 64 * KiB },
};

export const smokePlan: Plan = {
  smoke: true,
  sizes: [4 * KiB],
  sessions: [4],
  warmup: () => 0,
  targetSeconds: 0,
  minCount: () => 40,
  maxCount: () => 40,
  rounds: () => 1,
  runTimeoutMs: 20_000,
  settleTimeoutMs: 10_000,
  postfix: { count: 20, sessions: 4, size: 4 * KiB, rounds: 1, warmup: 4 },
  postfixNexts: ['hpfeeds'],
  bigMessageModes: ['spool'],
  bigMessage: { size: 9_000_000, count: 1 },
  fanout: { subscribers: 10, count: 200, size: 4 * KiB },
  slowSubscriber: { count: 100, size: 64 * KiB },
};
