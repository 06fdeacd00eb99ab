/**
 * Real protocol peers on loopback for the channel tests: an SMTP server (the `smtp-server`
 * package) that keeps what it receives, and HTTP servers speaking Twilio's Messages API, FCM HTTP
 * v1, a web push service and a plain webhook receiver. Each can be told to answer badly (a status,
 * a malformed body, a reset connection, silence) to test how senders classify failures.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  readonly from: string;
  readonly to: string[];
  readonly raw: string;
  headers(): Map<string, string>;
}

/** Reads headers of a raw message (unfolded, names lower-cased). */
export function parseHeaders(raw: string): Map<string, string> {
  const head = raw.split(/\r?\n\r?\n/)[0] ?? '';
  const out = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return out;
}

/** Decodes a quoted-printable body part (enough for the HTML nodemailer writes). */
export function decodeQuotedPrintable(s: string): string {
  return Buffer.from(
    s
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
    'latin1',
  ).toString('utf8');
}

export interface SmtpPeer {
  readonly port: number;
  readonly mails: ReceivedMail[];
  /** Reply with this SMTP code to the next RCPT TO, once (null: accept). */
  rcptReply: { code: number; message: string } | null;
  close(): Promise<void>;
}

export async function startSmtpPeer(options: { keepRaw?: boolean } = {}): Promise<SmtpPeer> {
  const mails: ReceivedMail[] = [];
  const peer: SmtpPeer = {
    port: 0,
    mails,
    rcptReply: null,
    close: async () => {},
  };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    size: 10 * 1024 * 1024,
    onRcptTo(_address, _session, cb) {
      const r = peer.rcptReply;
      if (r === null) return cb();
      peer.rcptReply = null;
      const err = new Error(r.message) as Error & { responseCode: number };
      err.responseCode = r.code;
      return cb(err);
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = options.keepRaw === false ? '' : Buffer.concat(chunks).toString('utf8');
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          headers: () => parseHeaders(raw),
        });
        cb();
      });
    },
  });
  // A client that dies mid-session (a crash test kills it) resets its connection: not an error here.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return Object.assign(peer, {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

export interface HttpExchange {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** How the peer answers the next request: a status and body, a reset, or silence. */
export type PeerAnswer =
  | { kind: 'reply'; status: number; body: string; headers?: Record<string, string> }
  | { kind: 'reset' }
  | { kind: 'hang' };

export interface HttpPeer {
  readonly url: string;
  readonly received: HttpExchange[];
  /** Answers queued for the next requests; when empty, `answer(exchange)` decides. */
  readonly queue: PeerAnswer[];
  close(): Promise<void>;
}

export async function startHttpPeer(answer: (x: HttpExchange) => PeerAnswer): Promise<HttpPeer> {
  const received: HttpExchange[] = [];
  const queue: PeerAnswer[] = [];
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const x: HttpExchange = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      received.push(x);
      const a = queue.shift() ?? answer(x);
      if (a.kind === 'reset') req.socket.destroy();
      else if (a.kind === 'hang') hanging.add(res);
      else res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers }).end(a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    queue,
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of hanging) r.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
