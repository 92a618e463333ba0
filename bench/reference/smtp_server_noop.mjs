#!/usr/bin/env node
// Reference LMTP server for the benchmarks: npm smtp-server in LMTP mode, as our collector uses it,
// that reads each message and answers 250 for every recipient without storing or forwarding
// anything. Whatever a collector built on smtp-server does, it cannot be faster than this on the
// same machine: the distance between this and smtp-sink is the library's and Node's, not ours.
// Usage: smtp_server_noop.mjs PORT   (prints "listening PORT" once bound; stops on SIGTERM)
import { SMTPServer } from 'smtp-server';

const server = new SMTPServer({
  lmtp: true,
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  disableReverseLookup: true,
  logger: false,
  onData(stream, session, callback) {
    stream.on('data', () => undefined);
    stream.on('end', () => callback(null, session.envelope.rcptTo.map(() => '2.0.0 OK')));
  },
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => console.log(`listening ${server.server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
