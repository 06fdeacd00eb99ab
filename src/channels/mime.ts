/**
 * A lean MIME composer for the e-mails Concierge sends: one text part, one HTML part, or both as
 * `multipart/alternative`, built straight into one buffer. It does the few things such a message
 * needs (RFC 5322 headers, RFC 2047 encoded words for non-ASCII names and subjects, folding, and
 * per part the lightest transfer encoding that keeps every line within 998 octets) without the
 * stream machinery of a general-purpose composer, which cost more than rendering the template.
 */
import { randomBytes } from 'node:crypto';

/** A mailbox: an address and an optional display name. */
export interface Mailbox {
  readonly name: string;
  readonly address: string;
}

const ADDRESS = /^[^\s@<>()",;:\\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;

/**
 * Reads `"Shop" <news@shop.example>`, `Shop <news@shop.example>` or `news@shop.example`; returns
 * null for anything else (several addresses, no address, a malformed one).
 */
export function parseMailbox(text: string): Mailbox | null {
  const s = text.trim();
  const lt = s.lastIndexOf('<');
  if (lt < 0) return ADDRESS.test(s) ? { name: '', address: s } : null;
  if (!s.endsWith('>')) return null;
  const address = s.slice(lt + 1, -1).trim();
  if (!ADDRESS.test(address)) return null;
  let name = s.slice(0, lt).trim();
  if (name.startsWith('"')) {
    if (name.length < 2 || !name.endsWith('"')) return null;
    name = name.slice(1, -1).replace(/\\(.)/g, '$1');
  } else if (/[<>"]/.test(name)) return null;
  return { name, address };
}

export interface MimeInput {
  readonly from: Mailbox;
  readonly to: string;
  readonly replyTo?: Mailbox;
  readonly subject: string;
  readonly text?: string;
  readonly html?: string;
  /** With its angle brackets. */
  readonly messageId: string;
  readonly date: Date;
  /** Further headers, in order; values are single lines of ASCII. */
  readonly headers?: readonly (readonly [string, string])[];
}

// Quoted-printable text never holds a bare `=`, so it cannot contain a boundary; in a 7bit part
// one would have to guess the 96 random bits of this prefix.
const BOUNDARY_PREFIX = `=_cc_${randomBytes(12).toString('hex')}_`;
let boundaries = 0;

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const ATOM_TEXT = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]*$/;

/** The message, CRLF line endings, ready for SMTP `DATA` (dot-stuffing is the client's job). */
export function composeMime(m: MimeInput): Buffer {
  let head = '';
  head += `From: ${mailbox(m.from)}\r\n`;
  head += `To: ${m.to}\r\n`;
  if (m.replyTo !== undefined) head += `Reply-To: ${mailbox(m.replyTo)}\r\n`;
  head += `Subject: ${headerText(m.subject, 'Subject: '.length)}\r\n`;
  head += `Message-ID: ${m.messageId}\r\n`;
  head += `Date: ${m.date.toUTCString().replace('GMT', '+0000')}\r\n`;
  head += 'MIME-Version: 1.0\r\n';
  for (const [k, v] of m.headers ?? []) {
    if (!PRINTABLE_ASCII.test(v) || k.length + 2 + v.length > 998)
      throw new Error(`header ${k} must be printable ASCII within 998 octets`);
    head += `${k}: ${v}\r\n`;
  }
  const text = m.text !== undefined && m.text !== '' ? part('text/plain', m.text) : null;
  const html = m.html !== undefined && m.html !== '' ? part('text/html', m.html) : null;
  if (text !== null && html !== null) {
    const b = `${BOUNDARY_PREFIX}${(boundaries++).toString(36)}`;
    return Buffer.concat([
      Buffer.from(
        `${head}Content-Type: multipart/alternative;\r\n boundary="${b}"\r\n\r\n--${b}\r\n${text.head}\r\n`,
      ),
      text.body,
      Buffer.from(`\r\n--${b}\r\n${html.head}\r\n`),
      html.body,
      Buffer.from(`\r\n--${b}--\r\n`),
    ]);
  }
  const only = html ?? text ?? part('text/plain', '');
  return Buffer.concat([Buffer.from(`${head}${only.head}\r\n`), only.body]);
}

function mailbox(b: Mailbox): string {
  if (b.name === '') return b.address;
  if (ATOM_TEXT.test(b.name)) return `${b.name} <${b.address}>`;
  if (PRINTABLE_ASCII.test(b.name)) return `"${b.name.replace(/(["\\])/g, '\\$1')}" <${b.address}>`;
  return `${encodedWords(b.name, 'Reply-To: '.length)} <${b.address}>`;
}

/** An unstructured header value: as it is when it is short ASCII, folded or encoded otherwise. */
function headerText(value: string, used: number): string {
  const v = value.replace(/[\r\n]+/g, ' ');
  // Encoded words also carry ASCII text with a "word" too long to fit a line, split anywhere.
  if (!PRINTABLE_ASCII.test(v) || /[^ ]{900}/.test(v)) return encodedWords(v, used);
  if (used + v.length <= 78) return v;
  // Fold at spaces into lines of at most 78 characters where the words allow.
  let out = '';
  let line = used;
  for (const [i, word] of v.split(' ').entries()) {
    if (i > 0) {
      if (line + 1 + word.length > 78 && line > 1) {
        out += '\r\n';
        line = 0;
      }
      out += ' ';
      line++;
    }
    out += word;
    line += word.length;
  }
  return out;
}

/** RFC 2047 B-encoded words of at most 75 characters each, split between characters. */
function encodedWords(value: string, used: number): string {
  const words: string[] = [];
  let chunk: string[] = [];
  let bytes = 0;
  // Lines of at most 76 characters: `=?UTF-8?B?` and `?=` take 12, and every 3 bytes take 4.
  const bytesFor = (room: number) => Math.max(3, Math.floor((room - 12) / 4) * 3);
  const first = bytesFor(76 - used);
  const next = bytesFor(75);
  for (const ch of value) {
    const n = Buffer.byteLength(ch);
    if (chunk.length > 0 && bytes + n > (words.length === 0 ? first : next)) {
      words.push(chunk.join(''));
      chunk = [];
      bytes = 0;
    }
    chunk.push(ch);
    bytes += n;
  }
  if (chunk.length > 0) words.push(chunk.join(''));
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join('\r\n ');
}

/** A body part: its headers and its encoded body. */
function part(type: string, content: string): { head: string; body: Buffer } {
  const crlf = content.replace(/\r?\n|\r/g, '\r\n');
  const raw = Buffer.from(crlf);
  if (raw.length === crlf.length && linesWithin(crlf, 998)) {
    return { head: `Content-Type: ${type}; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n`, body: raw };
  }
  return {
    head: `Content-Type: ${type}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n`,
    body: quotedPrintable(raw),
  };
}

function linesWithin(s: string, max: number): boolean {
  let start = 0;
  for (;;) {
    const i = s.indexOf('\r\n', start);
    const end = i < 0 ? s.length : i;
    if (end - start > max) return false;
    if (i < 0) return true;
    start = i + 2;
  }
}

const HEX = '0123456789ABCDEF';

/** RFC 2045 quoted-printable of UTF-8 text with CRLF line endings: lines of at most 76. */
export function quotedPrintable(raw: Buffer): Buffer {
  const out = Buffer.allocUnsafe(raw.length * 3 + Math.ceil((raw.length * 3) / 73) * 3 + 3);
  let o = 0;
  let col = 0;
  const n = raw.length;
  for (let i = 0; i < n; i++) {
    const c = raw[i]!;
    if (c === 13 && raw[i + 1] === 10) {
      out[o++] = 13;
      out[o++] = 10;
      i++;
      col = 0;
      continue;
    }
    const atLineEnd = i + 1 === n || (raw[i + 1] === 13 && raw[i + 2] === 10);
    // Spaces and tabs are literal except at the end of a line; a line starting with "." is left
    // to the SMTP client's dot-stuffing.
    const literal = (c >= 33 && c <= 126 && c !== 61) || ((c === 32 || c === 9) && !atLineEnd);
    const width = literal ? 1 : 3;
    // Keep room for a soft break: a line holds at most 75 characters and the `=`.
    if (col + width > (atLineEnd ? 76 : 75)) {
      out[o++] = 61;
      out[o++] = 13;
      out[o++] = 10;
      col = 0;
    }
    if (literal) out[o++] = c;
    else {
      out[o++] = 61;
      out[o++] = HEX.charCodeAt(c >> 4);
      out[o++] = HEX.charCodeAt(c & 15);
    }
    col += width;
  }
  return out.subarray(0, o);
}
