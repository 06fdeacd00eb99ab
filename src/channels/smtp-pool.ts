/**
 * A small pool of SMTP connections (nodemailer's `SMTPConnection`), kept open and reused, that
 * sends a message as a stream read only once the server has accepted `DATA`. That is what lets
 * the e-mail sender hold back the final `.` of a message until the dispatcher has durably marked
 * it as sent: a crash before that point leaves the server with an incomplete message it discards
 * (and the message is sent again after the restart); a crash after it never sends it twice.
 */
import type { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import type { EmailSettings } from './channel-settings.ts';

/** The settings that make one pool: connections are shared only while all of them are the same. */
export const POOL_SETTINGS = [
  'host',
  'port',
  'secure',
  'ignoreTLS',
  'rejectUnauthorized',
  'user',
  'password',
  'maxConnections',
  'maxMessages',
] as const;

export type SmtpPoolOptions = Pick<EmailSettings, (typeof POOL_SETTINGS)[number]>;

export interface SmtpAnswer {
  readonly accepted: string[];
  readonly rejected: string[];
  readonly response: string;
}

interface Pooled {
  readonly conn: SMTPConnection;
  sent: number;
  broken: boolean;
}

export class SmtpPool {
  private readonly idle: Pooled[] = [];
  private open = 0;
  private readonly waiting: ((p: Pooled | Error) => void)[] = [];
  private closed = false;

  constructor(private readonly options: SmtpPoolOptions) {}

  /** Sends one message; `message` is read after the server accepted DATA. */
  async send(envelope: { from: string; to: string[] }, message: Readable): Promise<SmtpAnswer> {
    const p = await this.acquire();
    try {
      const info = await new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) => {
        p.conn.send(envelope, message, (err, info) => (err ? reject(err) : resolve(info)));
      });
      p.sent++;
      return {
        accepted: (info.accepted ?? []).map(String),
        rejected: (info.rejected ?? []).map(String),
        response: String(info.response ?? ''),
      };
    } catch (err) {
      // A failed transaction may leave the session in any state: do not reuse it.
      p.broken = true;
      throw err;
    } finally {
      this.release(p);
    }
  }

  private acquire(): Promise<Pooled> {
    if (this.closed) return Promise.reject(new Error('the SMTP pool is closed'));
    const p = this.idle.pop();
    if (p) return Promise.resolve(p);
    if (this.open < this.options.maxConnections) {
      this.open++;
      return this.connect().catch((err: unknown) => {
        this.open--;
        this.wakeOne();
        throw err;
      });
    }
    return new Promise((resolve, reject) => {
      this.waiting.push((x) => (x instanceof Error ? reject(x) : resolve(x)));
    });
  }

  private release(p: Pooled): void {
    if (p.broken || p.sent >= this.options.maxMessages || this.closed) {
      this.open--;
      if (p.broken) p.conn.close();
      else p.conn.quit();
      this.wakeOne();
      return;
    }
    const next = this.waiting.shift();
    if (next) next(p);
    else this.idle.push(p);
  }

  /** A slot freed up: a waiter gets a new connection. */
  private wakeOne(): void {
    const next = this.waiting.shift();
    if (!next) return;
    this.open++;
    this.connect().then(next, (err: unknown) => {
      this.open--;
      next(err instanceof Error ? err : new Error(String(err)));
    });
  }

  private async connect(): Promise<Pooled> {
    const o = this.options;
    const conn = new SMTPConnection({
      host: o.host,
      port: o.port,
      secure: o.secure,
      ignoreTLS: o.ignoreTLS,
      tls: { rejectUnauthorized: o.rejectUnauthorized },
      connectionTimeout: 15_000,
      greetingTimeout: 15_000,
      socketTimeout: 60_000,
    });
    const pooled: Pooled = { conn, sent: 0, broken: false };
    conn.on('error', () => {
      pooled.broken = true;
    });
    conn.on('end', () => {
      pooled.broken = true;
      const i = this.idle.indexOf(pooled);
      if (i >= 0) {
        this.idle.splice(i, 1);
        this.open--;
      }
    });
    await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
    if (o.user !== undefined) {
      await new Promise<void>((resolve, reject) =>
        conn.login({ user: o.user!, pass: o.password ?? '' }, (err) => (err ? reject(err) : resolve())),
      );
    }
    return pooled;
  }

  close(): void {
    this.closed = true;
    for (const p of this.idle.splice(0)) p.conn.quit();
    for (const w of this.waiting.splice(0)) w(new Error('the SMTP pool is closed'));
  }
}
