// LMTP ingest: smtp-source -L against each target, per message size and session count.
// Every run checks that the target's destination holds every message smtp-source got a 250 for.
import { peakDuring } from '../lib/memory.js';
import { waitUntil } from '../lib/process.js';
import { sendLoad } from '../lib/smtp-source.js';
import type { Plan } from '../plan.js';
import type { LmtpTarget } from '../servers/target.js';

export interface IngestResult {
  target: string;
  size: number;
  sessions: number;
  count: number;
  ms: number;
  msgsPerSec: number;
  mbPerSec: number;
  /** peak RSS of the target's process during the measured run, bytes */
  peakRss: number;
  /** messages found at the destination (null: smtp-sink discards) */
  delivered: number | null;
  /** msgs/s of every round, when the point was measured in several (this result is their median) */
  rounds?: number[];
}

/** The median round (by msgs/s), with every round's rate and the highest peak RSS of them all. */
export function medianRound(rounds: IngestResult[]): IngestResult {
  if (rounds.length === 1) return rounds[0]!;
  const sorted = [...rounds].sort((a, b) => a.msgsPerSec - b.msgsPerSec);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return { ...median, peakRss: Math.max(...rounds.map((r) => r.peakRss)), rounds: rounds.map((r) => r.msgsPerSec) };
}

/** Messages the destination must hold after `expected` were accepted; throws on a loss. */
export async function checkDelivered(target: LmtpTarget, expected: number, timeoutMs: number): Promise<number | null> {
  if (!target.delivered) return null;
  const delivered = target.delivered.bind(target);
  try {
    await waitUntil(() => delivered() >= expected, timeoutMs, `${expected} messages at ${target.name}`, 25);
  } catch {
    throw new Error(`LOSS: ${target.name} accepted ${expected} messages but its destination holds ${delivered()}`);
  }
  const n = delivered();
  if (n !== expected) throw new Error(`${target.name}: expected ${expected} messages at the destination, found ${n} (duplicates?)`);
  return n;
}

/** One server under test and how many messages it has been sent so far. */
export interface IngestState {
  target: LmtpTarget;
  sent: number;
}

/** One point: a warm-up run that sizes the measured run, then the measured run; both counted at the destination. */
export async function ingestPoint(state: IngestState, plan: Plan, size: number, sessions: number, log: (line: string) => void): Promise<IngestResult> {
  const { target } = state;
  const load = { protocol: 'lmtp' as const, port: target.port, sessions, size, timeoutMs: plan.runTimeoutMs };
  let count = plan.minCount(sessions, size);
  const warm = Math.max(plan.warmup(size), plan.warmup(size) > 0 ? sessions : 0);
  if (warm > 0) {
    const w = await sendLoad({ ...load, count: warm });
    state.sent += warm;
    await checkDelivered(target, state.sent, plan.settleTimeoutMs);
    count = Math.round(w.msgsPerSec * plan.targetSeconds);
  }
  count = Math.min(plan.maxCount(size), Math.max(plan.minCount(sessions, size), count));
  const { result: r, peak } = await peakDuring(target.pid, () => sendLoad({ ...load, count }));
  state.sent += count;
  const delivered = await checkDelivered(target, state.sent, plan.settleTimeoutMs);
  log(
    `ingest ${target.name.padEnd(14)} ${String(size).padStart(8)} B  ${String(sessions).padStart(2)} sessions  ` +
      `${String(count).padStart(6)} msgs  ${r.msgsPerSec.toFixed(0).padStart(6)} msgs/s  ${r.mbPerSec.toFixed(1).padStart(7)} MB/s  ` +
      `peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`,
  );
  return { target: target.name, size, sessions, count, ...r, peakRss: peak, delivered };
}
