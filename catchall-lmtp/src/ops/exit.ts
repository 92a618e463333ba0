// How a command-line entry point ends: its exit code, or 2 with the message for a ConfigError
// (bad command line or configuration), or 1 with the stack for anything unexpected.
import { ConfigError } from '../config/errors.js';

export function exitWith(program: string, main: Promise<number>): void {
  main.then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof ConfigError) {
        process.stderr.write(`${program}: ${err.message}\n`);
        process.exit(err.exitCode);
      }
      process.stderr.write(`${program}: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
