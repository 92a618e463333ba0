// One collection pass over an open mailbox: find what was not collected yet, hand each message to
// the sinks, and only once every sink confirmed it, remember its UID and mark it \Seen (or delete it).
//
// What "not collected yet" means is kept in the state file: every UID above `lastUid`, plus the
// `pending` ranges below it: messages a default run passed over because they were \Seen (a later -a
// run takes them), and messages a sink refused (e.g. too big for the hpfeeds frame limit). A refused
// message stays on the server untouched and is offered again on every pass; it does not hold up the
// messages after it. When the refusal came from a disconnected sink, the pass stops instead: the rest
// would only be refused too (and the attempt itself is what lets a sink like the maildir recover).
import type { ImapFlow } from 'imapflow';
import type { Logger } from 'pino';
import type { CollectedMessage } from 'catchall-lmtp/sinks/sink';
import { toCollectedMessage } from '../collect/to-message.js';
import type { UidState, UidStateFile } from '../state/uid-state.js';
import { addRange, removeUid, sameRanges, toSequenceSet, trimToExisting } from '../state/uid-ranges.js';

/** Shaped like the LMTP collector's publishToAll result, which is what the service plugs in. */
export type Deliver = (message: CollectedMessage) => Promise<{ ok: boolean; sinks: Record<string, string> }>;

export interface PassOptions {
  client: ImapFlow;
  account: string;
  mailbox: string;
  state: UidStateFile;
  /** -a: every message, not only unseen ones (already collected ones are still skipped). */
  fetchAll: boolean;
  /**
   * -d: delete and expunge instead of marking \Seen. On a server without UIDPLUS only flags \Deleted
   * (and \Seen): its plain EXPUNGE would also remove messages that others flagged \Deleted.
   */
  deleteAfter: boolean;
  /** Hands the message to every sink; `ok` only once all of them confirmed. */
  deliver: Deliver;
  /** True while every sink is connected: tells a refused message from a broker outage. */
  sinksReady: () => boolean;
  logger: Logger;
  /** Checked between messages so that a shutdown does not wait for a whole mailbox. */
  shouldStop: () => boolean;
}

export interface PassResult {
  /** Confirmed by every sink, then marked or deleted. */
  collected: number;
  /** Refused by a sink although all were connected; left on the server and retried next pass. */
  refused: number;
  /** The pass stopped early because a sink was not connected; the rest waits for the next pass. */
  sinksDown: boolean;
}

export async function collectPass(o: PassOptions): Promise<PassResult> {
  const box = o.client.mailbox;
  if (!box) throw new Error(`mailbox ${o.mailbox} is not open`);
  const state = await knownState(o, box.uidValidity.toString());
  const result: PassResult = { collected: 0, refused: 0, sinksDown: false };
  if (state.unmarked.length > 0) await finishUnmarked(o, state);

  for (const uid of await candidates(o, state)) {
    if (o.shouldStop()) break;
    const fetched = await o.client.fetchOne(String(uid), { uid: true, source: true, internalDate: true }, { uid: true });
    if (!fetched || !fetched.source) {
      o.logger.debug({ uid }, 'message vanished before it was fetched');
      await save(o, state, uid, 'gone');
      continue;
    }
    const internalDate = fetched.internalDate === undefined ? undefined : new Date(fetched.internalDate);
    const message = toCollectedMessage(fetched.source, { account: o.account, mailbox: o.mailbox, uid, uidValidity: state.uidValidity, internalDate });
    const started = performance.now();
    const delivered = await o.deliver(message);
    const line = { uid, sha256: message.sha256, size: message.bytes.length, sinks: delivered.sinks, ms: Math.round(performance.now() - started) };
    if (!delivered.ok && !o.sinksReady()) {
      // Every further message would be refused too; this one is offered again first next time.
      o.logger.warn(line, 'a sink is not connected; leaving this and the following messages for the next pass');
      result.sinksDown = true;
      break;
    }
    if (!delivered.ok) {
      o.logger.warn(line, 'not confirmed by every sink; left on the server and retried on the next pass');
      await save(o, state, uid, 'refused');
      result.refused += 1;
      continue;
    }
    // Remember first, then mark: if marking fails, the next pass finishes it without sending again.
    await save(o, state, uid, 'confirmed');
    await markCollected(o, [uid]);
    o.logger.info({ ...line, action: markAction(o) }, 'collected');
    result.collected += 1;
  }
  if (state.unmarked.length > 0) {
    state.unmarked = []; // the last message's mark succeeded, or we would not be here
    await o.state.save(state);
  }
  return result;
}

async function knownState(o: PassOptions, uidValidity: string): Promise<UidState> {
  const saved = await o.state.load();
  if (saved?.uidValidity === uidValidity) return saved;
  // The server renumbered the mailbox: old UIDs mean nothing now, so collection starts over.
  if (saved) o.logger.warn({ was: saved.uidValidity, now: uidValidity }, 'UIDVALIDITY changed; collecting the mailbox from the start');
  return { uidValidity, lastUid: 0, pending: [], unmarked: [] };
}

/** UIDs to offer in this pass, ascending: new ones above lastUid, and pending ones that match. */
async function candidates(o: PassOptions, state: UidState): Promise<number[]> {
  const selection = o.fetchAll ? { all: true } : { seen: false };
  // `N:*` also matches the highest UID when it is below N, hence the filter.
  const fresh = ((await o.client.search({ ...selection, uid: `${state.lastUid + 1}:*` }, { uid: true })) || []).filter((uid) => uid > state.lastUid);
  let earlier: number[] = [];
  if (state.pending.length > 0) {
    // Pending messages that someone else deleted meanwhile are dropped, so the ranges stay few.
    const existing = (await o.client.search({ uid: toSequenceSet(state.pending) }, { uid: true })) || [];
    const trimmed = trimToExisting(state.pending, existing);
    if (!sameRanges(trimmed, state.pending)) {
      state.pending = trimmed;
      await o.state.save(state);
    }
    if (o.fetchAll) earlier = existing;
    else if (state.pending.length > 0) earlier = (await o.client.search({ ...selection, uid: toSequenceSet(state.pending) }, { uid: true })) || [];
  }
  const uids = [...earlier, ...fresh].sort((a, b) => a - b);
  if (uids.length > 0) o.logger.debug({ count: uids.length, earlier: earlier.length }, 'messages to collect');
  return uids;
}

/**
 * Records one message's outcome in the state file: everything between the previous lastUid and this
 * UID was passed over (\Seen, or no longer there) and becomes pending; so does this one unless every
 * sink confirmed it. `confirmed` also lists it as unmarked until the next save, which happens only
 * after its \Seen/deletion went through.
 */
async function save(o: PassOptions, state: UidState, uid: number, outcome: 'confirmed' | 'refused' | 'gone'): Promise<void> {
  if (uid > state.lastUid) {
    state.pending = addRange(state.pending, state.lastUid + 1, uid - 1);
    state.lastUid = uid;
  }
  // A vanished UID is harmless in pending (never reused) and keeps its neighbours in one range.
  state.pending = outcome === 'confirmed' ? removeUid(state.pending, uid) : addRange(state.pending, uid, uid);
  state.unmarked = outcome === 'confirmed' ? [uid] : [];
  await o.state.save(state);
}

/** Confirmed messages whose \Seen or deletion did not reach the server (e.g. the connection dropped). */
async function finishUnmarked(o: PassOptions, state: UidState): Promise<void> {
  o.logger.info({ uids: state.unmarked }, 'marking messages that were confirmed before the last disconnect');
  await markCollected(o, state.unmarked);
  state.unmarked = [];
  await o.state.save(state);
}

/** What marking a collected message does on this server. */
export function markAction(o: Pick<PassOptions, 'client' | 'deleteAfter'>): 'seen' | 'deleted' | 'flagged-deleted' {
  if (!o.deleteAfter) return 'seen';
  return o.client.capabilities.has('UIDPLUS') ? 'deleted' : 'flagged-deleted';
}

async function markCollected(o: PassOptions, uids: number[]): Promise<void> {
  const range = uids.join(',');
  const action = markAction(o);
  // messageDelete sends UID EXPUNGE (only these UIDs) with UIDPLUS, which markAction requires for 'deleted'.
  const ok =
    action === 'deleted'
      ? await o.client.messageDelete(range, { uid: true })
      : await o.client.messageFlagsAdd(range, action === 'seen' ? ['\\Seen'] : ['\\Seen', '\\Deleted'], { uid: true });
  if (!ok) throw new Error(`could not ${action === 'seen' ? 'mark \\Seen' : action === 'deleted' ? 'delete' : 'flag \\Deleted'} UID ${range}`);
}
