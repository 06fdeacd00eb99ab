/**
 * The SMTP peer of bench:send, in a thread of its own (as a real mail server would be a process of
 * its own): it accepts every message, reads every byte, and reports how many arrived.
 */
import { parentPort } from 'node:worker_threads';
import { SMTPServer } from 'smtp-server';

let received = 0;
let bytes = 0;
const peer = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS'],
  logger: false,
  maxClients: 1000,
  // Reverse DNS of a loopback client is neither useful nor free.
  useXClient: false,
  onConnect(_session, cb) {
    cb();
  },
  onData(stream, _session, cb) {
    stream.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    stream.on('end', () => {
      received++;
      cb();
    });
  },
});
peer.listen(0, '127.0.0.1', () => {
  parentPort!.postMessage({ port: (peer.server.address() as { port: number }).port });
});
parentPort!.on('message', (m: string) => {
  if (m === 'count') parentPort!.postMessage({ received, bytes });
  else if (m === 'reset') {
    received = 0;
    bytes = 0;
    parentPort!.postMessage({ reset: true });
  } else if (m === 'close') peer.close(() => process.exit(0));
});
