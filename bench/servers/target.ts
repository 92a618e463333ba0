// What every LMTP server under test looks like to the suites.
export interface LmtpTarget {
  /** short name used in tables and the chart */
  readonly name: string;
  readonly port: number;
  /** pid whose memory is measured */
  readonly pid: number;
  /**
   * Messages the target's destination (maildir, broker) holds so far, told apart by sha256.
   * Absent for smtp-sink, which discards: there, smtp-source's exit status is the only check.
   */
  delivered?(): number;
  stop(): Promise<void>;
}
