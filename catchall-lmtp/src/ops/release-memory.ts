// A Buffer's bytes live outside V8's heap and are freed only when a GC collects the Buffer object; V8
// starts a GC for such memory only once tens of megabytes of it have piled up. A large message leaves
// its size behind at least twice (the socket's chunks, its payload), so a stream of 9 MB messages grew
// the RSS by several times the message size. So the collector asks for GCs itself, once a message's
// replies are sent:
//   - after every 8 MiB of messages of 1 MiB or more, a minor GC (about 1 ms): their buffers are
//     still in the young generation;
//   - after a message of 4 MiB or more, a full GC (10-20 ms, beside the ~100 ms such a message takes):
//     its buffers may have been promoted while it was received and delivered, and then a minor GC
//     leaves them (hpfeeds 9 MB growth 4.1x with it, 2.1x with a full one).
// A GC while a message is still being received makes things worse: it promotes the chunks in use,
// which then outlive the message.
// Under load, the buffers of the messages in flight at each minor GC are promoted with them and then
// die in the old generation, where V8 by default lets garbage grow to several times what is live
// before it collects: 50 sessions of 4 KiB messages peaked at 140-150 MB. Letting the old generation
// grow by half of what is live instead (the conservative end of V8's own range) keeps it near
// 110 MB, for about 1% of CPU in incremental marking.
import v8 from 'node:v8';
import vm from 'node:vm';

/** A minor GC follows every this many bytes of large messages. */
const MINOR_GC_EVERY_BYTES = 8 * 1024 * 1024;
/** Messages from this size on count. */
const LARGE_MESSAGE_BYTES = 1024 * 1024;
/** A message from this size on is followed by a full GC. */
const HUGE_MESSAGE_BYTES = 4 * 1024 * 1024;

// `gc` exists only with --expose-gc; setting the flag at run time and taking the function from a new
// context gives it without changing how the collector is started. gc() is a full GC. (In Node 20's
// V8, gc({ type: 'major' }) runs a minor one, as gc({ type: 'minor' }) does.)
v8.setFlagsFromString('--expose-gc');
v8.setFlagsFromString('--heap-growing-percent=50'); // read at every GC, so it applies at run time too
const gc = vm.runInNewContext('gc') as (options?: { type: 'minor' }) => void;
const fullGc = (): void => gc();
const minorGc = (): void => gc({ type: 'minor' });

let largeBytes = 0;
let scheduled: NodeJS.Timeout | undefined;
let fullDue = false;

/** A message of `size` bytes was delivered and answered. */
export function messageDone(size: number): void {
  if (size < LARGE_MESSAGE_BYTES) return;
  largeBytes += size;
  if (size >= HUGE_MESSAGE_BYTES) fullDue = true;
  if ((largeBytes < MINOR_GC_EVERY_BYTES && !fullDue) || scheduled) return;
  largeBytes = 0;
  scheduled = setTimeout(() => {
    scheduled = undefined;
    const full = fullDue;
    fullDue = false;
    if (full) fullGc();
    else minorGc();
  }, 0);
  scheduled.unref();
}
