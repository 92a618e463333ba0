#!/usr/bin/env node
// Reference LMTP server for the benchmarks: Node's own sockets and a minimal hand-written LMTP
// responder, no library. It answers LHLO, MAIL, RCPT, DATA (one 250 per recipient after the final
// dot), RSET, NOOP and QUIT, finds the terminator across chunks, and discards every message: what
// Node itself allows on this machine. The distance between it and `smtp_server_noop.mjs` is what the
// smtp-server library costs. Replies to one read go out in one write, as pipelining allows.
// Usage: node_lmtp_noop.mjs PORT   (prints "listening PORT" once bound; stops on SIGTERM)
import net from 'node:net';

const END = Buffer.from('\r\n.\r\n');

const server = net.createServer((socket) => {
  let dataMode = false;
  let recipients = 0;
  let pending = ''; // an incomplete command line
  let tail = Buffer.from('\r\n'); // the last bytes of the message so far: a terminator may straddle chunks

  /** Where the terminator ends in `chunk` (the message continues: -1). */
  const endOfData = (chunk) => {
    const seam = Buffer.concat([tail, chunk.subarray(0, 4)]).indexOf(END);
    if (seam !== -1) return seam + END.length - tail.length;
    const inside = chunk.indexOf(END);
    if (inside !== -1) return inside + END.length;
    tail = Buffer.concat([tail, chunk.subarray(-4)]).subarray(-4);
    return -1;
  };

  socket.on('data', (chunk) => {
    let out = '';
    let rest = chunk;
    while (rest.length > 0) {
      if (dataMode) {
        const end = endOfData(rest);
        if (end === -1) break;
        out += '250 2.0.0 OK\r\n'.repeat(recipients);
        dataMode = false;
        recipients = 0;
        rest = rest.subarray(end);
        continue;
      }
      const lf = rest.indexOf(0x0a);
      if (lf === -1) {
        pending += rest.toString('latin1');
        break;
      }
      const verb = (pending + rest.toString('latin1', 0, Math.min(lf, 4))).slice(0, 4).toUpperCase();
      pending = '';
      rest = rest.subarray(lf + 1);
      if (verb === 'LHLO') out += '250-noop\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n';
      else if (verb === 'MAIL') out += '250 2.1.0 OK\r\n';
      else if (verb === 'RCPT') {
        recipients++;
        out += '250 2.1.5 OK\r\n';
      } else if (verb === 'DATA') {
        dataMode = recipients > 0;
        tail = Buffer.from('\r\n');
        out += dataMode ? '354 go ahead\r\n' : '503 5.5.1 no recipients\r\n';
      } else if (verb === 'RSET') {
        recipients = 0;
        out += '250 2.0.0 OK\r\n';
      } else if (verb === 'QUIT') {
        socket.end(`${out}221 2.0.0 bye\r\n`);
        return;
      } else out += verb === 'NOOP' ? '250 2.0.0 OK\r\n' : '502 5.5.2 not implemented\r\n';
    }
    if (out) socket.write(out);
  });
  socket.on('error', () => undefined);
  socket.write('220 node-lmtp-noop\r\n');
});
server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
