// Shared command-line helpers for hpfeeds-broker and hpfeeds: usage errors (exit 2) and number options.

/** A command-line mistake: printed with a pointer to --help, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseIntOption(name: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

/** Runs a CLI's main function: usage errors exit 2, other failures exit 1, each with one clear line. */
export function runCli(program: string, main: () => Promise<number | void>): void {
  main().then(
    (code) => {
      if (typeof code === 'number') process.exitCode = code;
    },
    (err: unknown) => {
      const usage = err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
      process.stderr.write(`${program}: ${(err as Error).message}\n`);
      if (usage) process.stderr.write(`Run "${program} --help" for usage.\n`);
      process.exit(usage ? 2 : 1);
    },
  );
}
