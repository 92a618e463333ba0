// Everything one run measured; written as JSON next to the report and rendered into BENCHMARKS.md.
import type { MachineFacts } from './report/machine.js';
import type { FanoutResult } from './suites/fanout.js';
import type { IngestResult } from './suites/ingest.js';
import type { BigMessageResult, SlowSubscriberResult } from './suites/memory.js';
import type { PostfixResult } from './suites/postfix.js';

export interface Results {
  plan: 'full' | 'smoke';
  startedAt: string;
  seconds: number;
  /** 1-minute load average when the run ended */
  loadAverageAtEnd: number;
  machine: MachineFacts;
  ingest: IngestResult[];
  postfix: PostfixResult[];
  bigMessages: BigMessageResult[];
  slowSubscriber: SlowSubscriberResult | null;
  fanout: FanoutResult | null;
  /** measures that could not run here, with the reason */
  skipped: string[];
  /** measures that failed (a loss, a crash, a time bound): any entry fails the run */
  failures: string[];
}
