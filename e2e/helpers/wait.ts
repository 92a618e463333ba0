// Bounded waiting, so a broken appliance fails a test with a reason instead of hanging the suite.

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Thrown from a check to stop waiting at once (the thing waited for can no longer happen). */
export class GiveUp extends Error {}

/** Polls check() until it returns something truthy; throws, naming what was awaited, after ms. */
export async function eventually<T>(what: string, check: () => T | Promise<T>, ms = 15_000, everyMs = 100): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${ms} ms waiting for ${what}${why}`);
    }
    await sleep(everyMs);
  }
}
