// pino, one JSON line per event on stdout. A message is identified by its sha256 in every line.
import { pino, type Logger, type LevelWithSilent } from 'pino';

/** `name` is the service in every line (imap-collector shares this logger setup). */
export function createLogger(level: LevelWithSilent = 'info', name = 'catchall-lmtp'): Logger {
  return pino({
    name,
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
