import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import PostalMime from 'postal-mime';
import { composeMime, type MimeInput, parseMailbox, quotedPrintable } from '../../src/channels/mime.ts';

const base: MimeInput = {
  from: { name: 'Shop', address: 'orders@shop.example' },
  to: 'c1@example.com',
  subject: 'Your order',
  messageId: '<abc@shop.example>',
  date: new Date('2026-11-22T10:00:00Z'),
};

/** Lines of the raw message, which must all fit SMTP's 998 octets. */
function assertLineLengths(raw: Buffer): void {
  const text = raw.toString('latin1');
  assert.ok(!/(^|[^\r])\n/.test(text), 'every line ends in CRLF');
  for (const line of text.split('\r\n')) assert.ok(line.length <= 998, `line of ${line.length} octets`);
}

const unix = (s: string | undefined) => (s ?? '').replace(/\r\n?/g, '\n');
/** A part's text as the parser gives it, which ends every part with a line break of its own. */
const parsed = (s: string | undefined) => unix(s).replace(/\n$/, '');

describe('MIME composer', () => {
  it('reads mailboxes in their common forms and refuses the rest', () => {
    assert.deepEqual(parseMailbox('Shop <news@shop.example>'), {
      name: 'Shop',
      address: 'news@shop.example',
    });
    assert.deepEqual(parseMailbox('"Shop, Inc." <news@shop.example>'), {
      name: 'Shop, Inc.',
      address: 'news@shop.example',
    });
    assert.deepEqual(parseMailbox(' news@shop.example '), { name: '', address: 'news@shop.example' });
    for (const bad of [
      '',
      'Shop',
      'a@b.c, d@e.f',
      'Shop <news>',
      'Shop <a@b.c',
      'a b@c.d',
      '<@shop.example>',
    ])
      assert.equal(parseMailbox(bad), null, bad);
  });

  it('writes a multipart/alternative message a parser reads back', async () => {
    const raw = composeMime({
      ...base,
      from: { name: 'Shöp & Co, Wien', address: 'orders@shop.example' },
      replyTo: { name: 'Help "desk"', address: 'help@shop.example' },
      subject:
        'Hallo Jürgen, Ihre Bestellung A-1 ist unterwegs — und dieser Betreff ist lang genug zum Falten 🚚',
      text: 'Hallo Jürgen,\n.leading dot\ntrailing space \nEnde',
      html: `<p>Grüße</p>\n<p>${'x'.repeat(3000)}</p>`,
      headers: [
        ['List-Unsubscribe', '<https://t.shop.example/t/u/abc.def>'],
        ['X-Concierge-Message', 'm-1'],
      ],
    });
    assertLineLengths(raw);
    const mail = await PostalMime.parse(raw);
    assert.deepEqual(mail.from, { name: 'Shöp & Co, Wien', address: 'orders@shop.example' });
    assert.equal(mail.to?.[0]?.address, 'c1@example.com');
    assert.equal(mail.replyTo?.[0]?.name, 'Help "desk"');
    assert.equal(
      mail.subject,
      'Hallo Jürgen, Ihre Bestellung A-1 ist unterwegs — und dieser Betreff ist lang genug zum Falten 🚚',
    );
    assert.equal(mail.messageId, '<abc@shop.example>');
    assert.equal(new Date(mail.date!).toISOString(), '2026-11-22T10:00:00.000Z');
    assert.equal(parsed(mail.text), 'Hallo Jürgen,\n.leading dot\ntrailing space \nEnde');
    assert.equal(parsed(mail.html), `<p>Grüße</p>\n<p>${'x'.repeat(3000)}</p>`);
    const header = (k: string) => mail.headers.find((h) => h.key === k.toLowerCase())?.value;
    assert.equal(header('List-Unsubscribe'), '<https://t.shop.example/t/u/abc.def>');
    assert.equal(header('X-Concierge-Message'), 'm-1');
    assert.match(raw.toString(), /Content-Type: multipart\/alternative;/);
  });

  it('sends plain ASCII parts as 7bit and folds a long ASCII subject at spaces', async () => {
    const subject = Array.from({ length: 30 }, (_, i) => `word${i}`).join(' ');
    const raw = composeMime({ ...base, subject, text: 'Hi there' });
    const s = raw.toString();
    assert.match(s, /Content-Transfer-Encoding: 7bit/);
    assert.doesNotMatch(s, /multipart/);
    for (const line of s.split('\r\n')) assert.ok(line.length <= 78, line);
    const mail = await PostalMime.parse(raw);
    assert.equal(mail.subject, subject);
    assert.equal(parsed(mail.text), 'Hi there');
  });

  it('splits an ASCII subject with a word too long for one line', async () => {
    const subject = `Order ${'X'.repeat(1500)} shipped`;
    const raw = composeMime({ ...base, subject, text: 'x' });
    assertLineLengths(raw);
    assert.equal((await PostalMime.parse(raw)).subject, subject);
  });

  it('refuses a header value that is not one line of ASCII', () => {
    assert.throws(
      () => composeMime({ ...base, text: 'x', headers: [['X-Bad', 'a\r\nBcc: someone@else.example']] }),
      /X-Bad must be printable ASCII/,
    );
  });

  it('quoted-printable keeps lines within 76 characters and round-trips any text', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'grapheme', maxLength: 400 }),
        fc.string({ unit: 'binary', maxLength: 400 }),
        async (subject, body) => {
          const text = `${body}é`; // never plain ASCII, so always quoted-printable
          const raw = composeMime({ ...base, subject: subject.trim() === '' ? 'x' : subject, text });
          assertLineLengths(raw);
          const qp = quotedPrintable(Buffer.from(text.replace(/\r?\n|\r/g, '\r\n')));
          for (const line of qp.toString('latin1').split('\r\n')) assert.ok(line.length <= 76);
          const mail = await PostalMime.parse(raw);
          assert.equal(parsed(mail.text), unix(text));
          // Header text: line breaks become spaces, everything else survives.
          const expected = (subject.trim() === '' ? 'x' : subject).replace(/[\r\n]+/g, ' ');
          assert.equal(mail.subject?.trim(), expected.trim());
        },
      ),
      { numRuns: 300 },
    );
  });
});
