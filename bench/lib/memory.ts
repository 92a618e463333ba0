// Resident memory of a process from /proc (Linux). VmHWM is the kernel's own peak-RSS record, so no
// sampling can miss a short peak; writing 5 to clear_refs resets it, which lets one process be measured
// per phase (needs root or the same user, which the bench has for its own children).
import { readFileSync, writeFileSync } from 'node:fs';

export interface Rss {
  /** current resident set, bytes */
  rss: number;
  /** peak resident set since start or the last resetPeak(), bytes */
  hwm: number;
}

export function readRss(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => {
    const m = status.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
    if (!m) throw new Error(`/proc/${pid}/status has no ${key}`);
    return Number(m[1]) * 1024;
  };
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Resets VmHWM to the current RSS. Returns false where the kernel does not allow it. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Peak RSS of `pid` over `work()`: VmHWM reset before, read after (the process must still be alive). */
export async function peakDuring<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; before: Rss; peak: number }> {
  resetPeak(pid);
  const before = readRss(pid);
  const result = await work();
  return { result, before, peak: readRss(pid).hwm };
}
