// The reference broker's `--auth env`: HPFEEDS_<IDENT>_SECRET, _PUBCHANS, _SUBCHANS (comma separated)
// and optionally _OWNER, with the ident upper-cased. Read at lookup time, like the reference.
import type { AuthRecord, AuthStore } from './auth-store.js';

const PREFIX = 'HPFEEDS_';

export class EnvAuthStore implements AuthStore {
  constructor(private readonly env: NodeJS.ProcessEnv = process.env) {}

  async lookup(ident: string): Promise<AuthRecord | undefined> {
    const key = (field: string) => this.env[`${PREFIX}${ident.toUpperCase()}_${field}`];
    const secret = key('SECRET');
    if (!secret) return undefined;
    return {
      ident,
      owner: key('OWNER') || ident,
      secret,
      pubchans: splitChannels(key('PUBCHANS')),
      subchans: splitChannels(key('SUBCHANS')),
    };
  }

  /** Counts HPFEEDS_*_SECRET variables, so start-up can warn when no ident is configured. */
  size(): number {
    const suffix = '_SECRET'; // HPFEEDS_SECRET itself (the collector's variable) names no ident
    return Object.keys(this.env).filter((k) => k.length > PREFIX.length + suffix.length && k.startsWith(PREFIX) && k.endsWith(suffix) && this.env[k]).length;
  }

  close(): void {}
}

// The reference splits '' into [''], which would allow the empty channel name; we drop empty items.
function splitChannels(value: string | undefined): string[] {
  return (value ?? '').split(',').map((c) => c.trim()).filter((c) => c.length > 0);
}
