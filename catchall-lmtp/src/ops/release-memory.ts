// A Buffer's bytes live outside V8's heap and are freed only when a GC collects the Buffer object; V8
// starts a GC for such memory only once tens of megabytes of it have piled up. A large message leaves
// two to three times its size behind (the socket's chunks, the joined message, its payload), so a
// stream of 9 MB messages grew the RSS by four times the message size. So after every 8 MiB of
// messages of 1 MiB or more, the collector asks for a full GC itself, once their replies are sent
// (about 10 ms each; nothing changes for small messages). A full GC, not a minor one: by then the
// message may have been promoted out of the young generation. A GC while a message is still being
// received makes things worse: it promotes the chunks in use, which then outlive the message.
import v8 from 'node:v8';
import vm from 'node:vm';

/** A full GC follows every this many bytes of large messages. */
const FULL_GC_EVERY_BYTES = 8 * 1024 * 1024;
/** Messages from this size on count. */
const LARGE_MESSAGE_BYTES = 1024 * 1024;

// `gc` exists only with --expose-gc; setting the flag at run time and taking the function from a new
// context gives it without changing how the collector is started.
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as (options: { type: 'major' }) => void;

let largeBytes = 0;
let scheduled: NodeJS.Timeout | undefined;

/** A message of `size` bytes was delivered and answered. */
export function messageDone(size: number): void {
  if (size < LARGE_MESSAGE_BYTES) return;
  largeBytes += size;
  if (largeBytes < FULL_GC_EVERY_BYTES || scheduled) return;
  largeBytes = 0;
  scheduled = setTimeout(() => {
    scheduled = undefined;
    gc({ type: 'major' });
  }, 0);
  scheduled.unref();
}
