import { burn } from '@kenjiuno/msgreader/lib/Burner.js';
import type { Entry } from '@kenjiuno/msgreader/lib/Burner.js';
import { describe, expect, it } from 'vitest';
import { converter } from '../src/convert/email.js';
import { convert, DEFAULT_OPTIONS, renderMarkdown } from '../src/convert/index.js';
import { fathomFailure } from '@fathom/core/testing';

const CSV = 'item,amount\nPaper,12\nInk,30\n';
const PNG_1x1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==';

const EML = [
  'From: "Alice Example" <alice@example.com>',
  'To: Bob <bob@example.com>, carol@example.com',
  'Cc: Dave <dave@example.com>',
  'Reply-To: replies@example.com',
  'Subject: =?UTF-8?Q?Quarterly_r=C3=A9sum=C3=A9?=',
  'Date: Tue, 05 Mar 2024 10:15:00 +0000',
  'Message-ID: <abc123@example.com>',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="mixed"',
  '',
  '--mixed',
  'Content-Type: multipart/alternative; boundary="alt"',
  '',
  '--alt',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hello Bob,',
  '',
  'the figures are attached.',
  '--alt',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<html><body><p>Hello <b>Bob</b>,</p><p>the figures are attached.</p><script>track()</script></body></html>',
  '--alt--',
  '--mixed',
  'Content-Type: text/csv; name="figures.csv"',
  'Content-Disposition: attachment; filename="figures.csv"',
  'Content-Transfer-Encoding: base64',
  '',
  Buffer.from(CSV).toString('base64'),
  '--mixed',
  'Content-Type: image/png; name="logo.png"',
  'Content-Disposition: attachment; filename="logo.png"',
  'Content-Transfer-Encoding: base64',
  '',
  PNG_1x1,
  '--mixed--',
  '',
].join('\r\n');

const HTML_ONLY = [
  'From: news@example.org',
  'To: reader@example.com',
  'Subject: Prices',
  'Date: Wed, 06 Mar 2024 08:00:00 +0100',
  'Content-Type: text/html; charset=utf-8',
  '',
  '<html><head><style>p { color: red }</style></head><body><h2>Price list</h2>',
  '<table><tr><th>Fruit</th><th>Price</th></tr><tr><td>Apple</td><td>1.20</td></tr></table>',
  '<p>Read <a href="https://example.org/prices">more</a>.</p><script>alert(1)</script></body></html>',
].join('\r\n');

const utf16 = (text: string) => Buffer.from(`${text}\0`, 'utf16le');

/** A property stream entry: tag, flags, then an 8-byte value. */
function property(tag: number, value: Buffer): Buffer {
  const entry = Buffer.alloc(16);
  entry.writeUInt32LE(tag >>> 0, 0);
  entry.writeUInt32LE(6, 4);
  value.copy(entry, 8, 0, 8);
  return entry;
}

function u32(value: number): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeUInt32LE(value, 0);
  return buffer;
}

function fileTime(iso: string): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64LE((BigInt(Date.parse(iso)) + 11644473600000n) * 10000n);
  return buffer;
}

/**
 * An Outlook .msg (MS-OXMSG) written with msgreader's own compound-file burner: the message
 * streams, two recipients and one attachment, each with its property stream. (The burner copies
 * from the start of a Buffer's pool, so every stream is handed over as a fresh Uint8Array.)
 */
function buildMsg(): Uint8Array {
  const entries: Entry[] = [{ name: 'Root Entry', type: 5, length: 0, children: [] }];
  const add = (parent: number, name: string, data?: Buffer): number => {
    entries.push(data ? { name, type: 2, length: data.length, binaryProvider: () => new Uint8Array(data) } : { name, type: 1, length: 0, children: [] });
    entries[parent]!.children!.push(entries.length - 1);
    return entries.length - 1;
  };
  const stream = (parent: number, tag: string, data: Buffer) => add(parent, `__substg1.0_${tag}`, data);

  stream(0, '0037001F', utf16('Budget review'));
  stream(0, '0C1A001F', utf16('Erin Example'));
  stream(0, '5D01001F', utf16('erin@example.com'));
  stream(0, '1000001F', utf16('Hi team,\r\n\r\nthe budget sheet is attached.'));
  stream(0, '1035001F', utf16('<msg-1@example.com>'));
  add(0, '__properties_version1.0', Buffer.concat([Buffer.alloc(32), property(0x00390040, fileTime('2024-04-02T09:30:00Z'))]));

  for (const [i, name, address, type] of [[0, 'Frank', 'frank@example.com', 1], [1, 'Grace', 'grace@example.com', 2]] as const) {
    const recipient = add(0, `__recip_version1.0_#0000000${i}`);
    stream(recipient, '3001001F', utf16(name));
    stream(recipient, '39FE001F', utf16(address));
    add(recipient, '__properties_version1.0', Buffer.concat([Buffer.alloc(8), property(0x0c150003, u32(type))]));
  }
  const attachment = add(0, '__attach_version1.0_#00000000');
  stream(attachment, '3707001F', utf16('budget.csv'));
  stream(attachment, '370E001F', utf16('text/csv'));
  stream(attachment, '37010102', Buffer.from('line,cost\nRent,900\nPower,120\n'));
  add(attachment, '__properties_version1.0', Buffer.alloc(8));
  return burn(entries);
}


describe('email converter: .eml', () => {
  it('gives the headers as a table, the plain-text body and the attachments', async () => {
    const document = await convert({ bytes: Buffer.from(EML), name: 'mail.eml' });
    expect(document.info).toMatchObject({
      type: 'eml',
      title: 'Quarterly résumé',
      author: 'Alice Example <alice@example.com>',
      created: '2024-03-05T10:15:00.000Z',
    });
    const [message, ...attachments] = document.sections;
    expect(message!.markdown).toMatch(/^# Quarterly résumé\n\n\| Header \| Value \|\n\| --- \| --- \|\n\| From \| Alice Example <alice@example.com> \|/);
    expect(message!.tables?.[0]?.rows).toEqual([
      ['From', 'Alice Example <alice@example.com>'],
      ['To', 'Bob <bob@example.com>, carol@example.com'],
      ['Cc', 'Dave <dave@example.com>'],
      ['Date', '2024-03-05T10:15:00.000Z'],
      ['Subject', 'Quarterly résumé'],
      ['Reply-To', 'replies@example.com'],
      ['Message-ID', '<abc123@example.com>'],
    ]);
    expect(message!.markdown).toContain('Hello Bob,\n\nthe figures are attached.');
    expect(message!.markdown).toContain('## Attachments\n\n| name | type | size |');
    expect(message!.markdown).toContain(`| figures.csv | text/csv | ${CSV.length} |`);
    expect(message!.markdown).toContain('| logo.png | image/png |');

    expect(attachments).toHaveLength(1);
    expect(attachments[0]).toMatchObject({ kind: 'member', index: 2, name: 'figures.csv' });
    expect(attachments[0]!.markdown).toMatch(/^## figures\.csv\n/);
    expect(attachments[0]!.markdown.match(/^## figures\.csv$/gm)).toHaveLength(1);
    expect(attachments[0]!.tables?.[0]?.rows).toContainEqual(['Paper', '12']);
    expect(attachments[0]!.tables?.[0]?.location).toMatch(/^figures\.csv, /);

    const all = renderMarkdown(document);
    expect(all).not.toContain(Buffer.from(CSV).toString('base64'));
    expect(all).not.toContain(PNG_1x1.slice(0, 20));
    expect(all).not.toContain('track()');
  });

  it('converts an HTML-only body to markdown with its tables, without scripts or styles', async () => {
    const document = await convert({ bytes: Buffer.from(HTML_ONLY), name: 'prices.eml' });
    const body = document.sections[0]!;
    expect(body.markdown).toContain('## Price list');
    expect(body.markdown).toMatch(/\| Fruit \| Price \|\n\| --- \| --- \|\n\| Apple \| 1\.20 \|/);
    expect(body.markdown).toContain('[more](https://example.org/prices)');
    expect(body.markdown).not.toMatch(/alert|color: red|<\/?(p|table|td|html)>/);
    expect(body.tables?.find((t) => t.location === 'body, table 1')).toMatchObject({ header: ['Fruit', 'Price'], rows: [['Apple', '1.20']] });
    expect(document.info.created).toBe('2024-03-06T07:00:00.000Z');
  });

  it('lists attachments without converting them past the nesting limit', async () => {
    const document = await convert({ bytes: Buffer.from(EML), name: 'mail.eml' }, { depth: 3 });
    expect(document.sections).toHaveLength(1);
    expect(document.sections[0]!.markdown).toContain('| figures.csv | text/csv |');
    expect(document.info.notes?.[0]).toMatch(/^Attachments are listed, not converted/);
  });

  it('refuses bytes that are not an e-mail message', async () => {
    const error = await fathomFailure(converter.convert({ bytes: new Uint8Array([0, 1, 2, 3, 255, 254, 10, 10, 0, 7]) }, 'eml', DEFAULT_OPTIONS, convert));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toBe('Not an e-mail message: no header lines were found');
    expect(error.hint).toBeTruthy();
  });
});

describe('email converter: .msg', () => {
  const msg = buildMsg();

  it('reads an Outlook message: headers, body, recipients and attachments', async () => {
    const document = await convert({ bytes: msg, name: 'budget.msg' });
    expect(document.info).toMatchObject({
      type: 'msg',
      title: 'Budget review',
      author: 'Erin Example <erin@example.com>',
      created: '2024-04-02T09:30:00.000Z',
    });
    const [message, attachment] = document.sections;
    expect(message!.tables?.[0]?.rows).toEqual([
      ['From', 'Erin Example <erin@example.com>'],
      ['To', 'Frank <frank@example.com>'],
      ['Cc', 'Grace <grace@example.com>'],
      ['Date', '2024-04-02T09:30:00.000Z'],
      ['Subject', 'Budget review'],
      ['Message-ID', '<msg-1@example.com>'],
    ]);
    expect(message!.markdown).toMatch(/^# Budget review\n\n\| Header \| Value \|/);
    expect(message!.markdown).toContain('Hi team,\n\nthe budget sheet is attached.');
    expect(message!.markdown).toContain('| budget.csv | text/csv | 29 |');
    expect(attachment).toMatchObject({ kind: 'member', index: 2, name: 'budget.csv' });
    expect(attachment!.tables?.[0]?.rows).toContainEqual(['Rent', '900']);
  });

  it('names a damaged .msg as corrupt', async () => {
    const damaged = new Uint8Array(msg.subarray(0, 600));
    damaged.fill(0xee, 80, 600);
    const error = await fathomFailure(convert({ bytes: damaged, name: 'broken.msg' }));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toMatch(/^Corrupt Outlook message \(\.msg\): it could not be parsed/);
    expect(error.hint).toBeTruthy();
  });
});
