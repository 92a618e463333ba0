// Where the broker looks up an ident's secret and channel permissions. The record shape is the
// reference broker's (hpfeeds3): {owner, secret, pubchans, subchans} keyed by ident.

export interface AuthRecord {
  ident: string;
  owner: string;
  secret: string;
  /** Channels this ident may PUBLISH to (exact names, no wildcards). */
  pubchans: readonly string[];
  /** Channels this ident may SUBSCRIBE to. */
  subchans: readonly string[];
}

export interface AuthStore {
  /** The record for an ident, or undefined when the ident is unknown. Async so that slower stores
   *  fit; the broker buffers frames that arrive while a lookup runs. */
  lookup(ident: string): Promise<AuthRecord | undefined>;
  /** How many idents are known (for start-up logs); undefined if the store cannot tell. */
  size(): number | undefined;
  close(): void;
}

/** A configuration problem in an auth source, with the file or variable it concerns. */
export class AuthConfigError extends Error {
  override name = 'AuthConfigError';
}

/** A fixed set of records, e.g. for embedding the broker in tests or tools. */
export class MemoryAuthStore implements AuthStore {
  private readonly records: Map<string, AuthRecord>;

  constructor(records: Iterable<AuthRecord>) {
    this.records = new Map([...records].map((r) => [r.ident, r]));
  }

  async lookup(ident: string): Promise<AuthRecord | undefined> {
    return this.records.get(ident);
  }

  size(): number {
    return this.records.size;
  }

  close(): void {}
}
