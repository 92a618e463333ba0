// Hands one message to every sink at once and waits for all of them: the only place sink.deliver is
// called, so every publish is timed and counted the same way in direct and spool mode.
import type { Metrics } from '../ops/metrics.js';
import type { CollectedMessage, Sink } from '../sinks/sink.js';

export interface PublishResult {
  /** True when every sink confirmed. */
  ok: boolean;
  /** Per sink: `ok` or the error text. */
  sinks: Record<string, string>;
  /** Names of the sinks that failed, in configuration order. */
  failed: string[];
}

export async function publishToAll(sinks: readonly Sink[], message: CollectedMessage, metrics: Metrics): Promise<PublishResult> {
  const outcomes = await Promise.all(sinks.map((sink) => publishOne(sink, message, metrics)));
  const result: PublishResult = { ok: true, sinks: {}, failed: [] };
  sinks.forEach((sink, i) => {
    const outcome = outcomes[i]!;
    result.sinks[sink.name] = outcome;
    if (outcome !== 'ok') {
      result.ok = false;
      result.failed.push(sink.name);
    }
  });
  return result;
}

async function publishOne(sink: Sink, message: CollectedMessage, metrics: Metrics): Promise<string> {
  const end = metrics.publishSeconds.startTimer({ sink: sink.name });
  try {
    await sink.deliver(message);
    end({ result: 'ok' });
    return 'ok';
  } catch (err) {
    end({ result: 'error' });
    const text = (err as Error).message || String(err);
    // SinkError messages start with the sink's name, which the caller already shows
    return text.startsWith(`${sink.name}: `) ? text.slice(sink.name.length + 2) : text;
  }
}
