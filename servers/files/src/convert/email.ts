import { FathomError } from '@fathom/core';
import msgreader from '@kenjiuno/msgreader';
import type { FieldsData } from '@kenjiuno/msgreader';
import PostalMime from 'postal-mime';
import type { Address } from 'postal-mime';
import { decodeText } from './decode.js';
import { detectType } from './detect.js';
import { htmlToMarkdown } from './html.js';
import { gfmTable, tidy } from './markdown.js';
import type { ConvertedDocument, ConvertFn, ConvertOptions, Converter, Section, Table } from './types.js';
import { convertNested, looksBinary, underHeading } from './nested.js';

// A CommonJS module with `exports.default`: Node hands over the exports object, bundlers the class.
type MsgReaderClass = typeof msgreader.default;
const MsgReader = (msgreader as unknown as { default?: MsgReaderClass }).default ?? (msgreader as unknown as MsgReaderClass);

interface Attachment {
  name: string;
  type: string;
  bytes: Uint8Array;
  /** An image the HTML body shows inline (a logo, a signature): listed, not converted. */
  inline?: boolean;
}

/** One shape for .eml and .msg, so both render alike. */
interface Message {
  headers: [string, string | undefined][];
  subject?: string;
  from?: string;
  date?: string;
  text?: string;
  html?: string;
  attachments: Attachment[];
  notes: string[];
}

function corrupt(kind: string, error: unknown): FathomError {
  const detail = error instanceof Error && error.message ? ` (${error.message})` : '';
  return new FathomError('invalid_argument', `Corrupt ${kind}: it could not be parsed${detail}`, {
    hint: 'The file is damaged or is not an e-mail message; check that it was saved completely.',
  });
}

function isoDate(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString();
}

function person(name: string | undefined, address: string | undefined): string {
  if (name && address && name !== address) return `${name} <${address}>`;
  return name || address || '';
}

function addresses(list: Address[] | Address | undefined): string | undefined {
  const items = list === undefined ? [] : Array.isArray(list) ? list : [list];
  const text = items
    .map((item) => (item.group ? `${item.name}: ${item.group.map((m) => person(m.name, m.address)).join(', ')};` : person(item.name, item.address)))
    .join(', ');
  return text || undefined;
}

async function readEml(bytes: Uint8Array): Promise<Message> {
  let email;
  try {
    email = await PostalMime.parse(bytes, { attachmentEncoding: 'arraybuffer' });
  } catch (error) {
    throw corrupt('e-mail message (.eml)', error);
  }
  if (!email.headers.some((header) => /^[!-9;-~]+$/.test(header.key) && header.value)) {
    throw new FathomError('invalid_argument', 'Not an e-mail message: no header lines were found', {
      hint: 'An .eml file starts with header lines such as "From:" and "Subject:"; check that this is one.',
    });
  }
  const from = addresses(email.from);
  return {
    headers: [
      ['From', from],
      ['To', addresses(email.to)],
      ['Cc', addresses(email.cc)],
      ['Date', isoDate(email.date)],
      ['Subject', email.subject],
      ['Reply-To', addresses(email.replyTo)],
      ['Message-ID', email.messageId],
    ],
    ...(email.subject ? { subject: email.subject } : {}),
    ...(from ? { from } : {}),
    ...(email.date ? { date: isoDate(email.date)! } : {}),
    ...(email.text ? { text: email.text } : {}),
    ...(email.html ? { html: email.html } : {}),
    attachments: email.attachments.map((attachment, i) => ({
      name: attachment.filename ?? `attachment-${i + 1}`,
      type: attachment.mimeType,
      bytes: typeof attachment.content === 'string' ? Buffer.from(attachment.content) : new Uint8Array(attachment.content),
      inline: attachment.related === true,
    })),
    notes: [],
  };
}

function readMsg(bytes: Uint8Array): Message {
  let reader: InstanceType<typeof MsgReader>;
  let fields: FieldsData;
  try {
    // msgreader reads the whole underlying buffer, so hand it one that holds exactly these bytes.
    const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
    reader = new MsgReader(whole.buffer as ArrayBuffer);
    fields = reader.getFileData();
  } catch (error) {
    throw corrupt('Outlook message (.msg)', error);
  }
  if (fields.error || fields.dataType !== 'msg') {
    throw new FathomError('invalid_argument', 'Not an Outlook message: the file is an OLE compound file without the .msg streams', {
      hint: 'Check that the file is an Outlook .msg item (an .xls or .doc file has the same container).',
    });
  }
  const headerLine = (name: string) => new RegExp(`^${name}:[ \\t]*(.*(?:\\r?\\n[ \\t].*)*)`, 'im').exec(fields.headers ?? '')?.[1]?.replace(/\s+/g, ' ');
  const senderAddress = [fields.senderSmtpAddress, fields.sentRepresentingSmtpAddress, fields.senderEmail].find((a) => a?.includes('@'));
  const from = person(fields.senderName, senderAddress) || undefined;
  const recipients = (kind: 'to' | 'cc') =>
    (fields.recipients ?? [])
      .filter((r) => (r.recipType ?? 'to') === kind)
      .map((r) => person(r.name, [r.smtpAddress, r.email].find((a) => a?.includes('@')) ?? r.email))
      .join(', ') || undefined;
  const date = isoDate(fields.clientSubmitTime ?? fields.messageDeliveryTime ?? headerLine('Date'));
  const html = fields.bodyHtml ?? (fields.html ? decodeText(fields.html, htmlCharset(fields.internetCodepage)).text : undefined);
  const notes: string[] = [];
  if (!fields.body && !html && fields.compressedRtf) notes.push('The message body is stored only as RTF, which is not converted.');

  const attachments: Attachment[] = [];
  for (const field of fields.attachments ?? []) {
    try {
      const data = reader.getAttachment(field);
      attachments.push({
        name: data.fileName || field.name || `attachment-${attachments.length + 1}`,
        type: field.attachMimeTag ?? (field.innerMsgContent ? 'application/vnd.ms-outlook' : ''),
        bytes: data.content,
        inline: field.attachmentHidden === true || !!field.pidContentId,
      });
    } catch {
      notes.push(`Attachment ${field.fileName ?? field.name ?? attachments.length + 1} could not be read.`);
    }
  }
  return {
    headers: [
      ['From', from],
      ['To', recipients('to')],
      ['Cc', recipients('cc')],
      ['Date', date],
      ['Subject', fields.subject],
      ['Reply-To', headerLine('Reply-To')],
      ['Message-ID', fields.messageId ?? headerLine('Message-ID')],
    ],
    ...(fields.subject ? { subject: fields.subject } : {}),
    ...(from ? { from } : {}),
    ...(date ? { date } : {}),
    ...(fields.body ? { text: fields.body } : {}),
    ...(html ? { html } : {}),
    attachments,
    notes,
  };
}

function htmlCharset(codepage: number | undefined): string | undefined {
  if (!codepage) return undefined;
  return codepage === 65001 ? 'utf-8' : `cp${codepage}`;
}

async function attachmentSection(attachment: Attachment, options: ConvertOptions, index: number, inner: ConvertFn): Promise<Section | undefined> {
  if (attachment.inline || attachment.bytes.length === 0) return undefined;
  const type = await detectType(attachment.bytes.subarray(0, 64 * 1024), attachment.name, attachment.type);
  if (type === 'image' || type === 'audio' || (await looksBinary(attachment.bytes, attachment.name))) return undefined;
  const { markdown, tables } = await convertNested({ bytes: attachment.bytes, name: attachment.name, ...(attachment.type ? { mimeType: attachment.type } : {}) }, options, inner);
  return { kind: 'member', index, name: attachment.name, markdown: underHeading(attachment.name, markdown), ...(tables.length ? { tables } : {}) };
}

async function render(message: Message, type: 'eml' | 'msg', options: ConvertOptions, inner: ConvertFn): Promise<ConvertedDocument> {
  const headerRows = message.headers.filter((row): row is [string, string] => !!row[1]);
  const tables: Table[] = [{ location: 'headers', header: ['Header', 'Value'], rows: headerRows }];
  const parts = [`# ${message.subject || '(no subject)'}`, gfmTable(['Header', 'Value'], headerRows)];

  if (message.text?.trim()) {
    parts.push(message.text.replace(/\r\n?/g, '\n').trim());
  } else if (message.html) {
    const body = htmlToMarkdown(message.html, { mainContent: false });
    parts.push(body.markdown);
    tables.push(...body.tables.map((t) => ({ ...t, location: `body, ${t.location}` })));
  } else {
    parts.push('*The message has no text body.*');
  }

  const notes = [...message.notes];
  const sections: Section[] = [];
  if (message.attachments.length) {
    const rows = message.attachments.map((a) => [a.name, a.type, String(a.bytes.length)]);
    parts.push(`## Attachments\n\n${gfmTable(['name', 'type', 'size'], rows)}`);
    tables.push({ location: 'attachments', header: ['name', 'type', 'size'], rows });
    if (options.depth >= options.limits.maxNesting) {
      notes.push(`Attachments are listed, not converted: the message is nested ${options.depth} levels deep (the limit is ${options.limits.maxNesting}).`);
    } else {
      for (const attachment of message.attachments) {
        const section = await attachmentSection(attachment, options, sections.length + 2, inner);
        if (section) sections.push(section);
      }
    }
  }

  const properties: Record<string, string | number> = Object.fromEntries(headerRows.map(([key, value]) => [key.toLowerCase(), value]));
  properties.attachments = message.attachments.length;
  return {
    info: {
      type,
      mimeType: type === 'eml' ? 'message/rfc822' : 'application/vnd.ms-outlook',
      ...(message.subject ? { title: message.subject } : {}),
      ...(message.from ? { author: message.from } : {}),
      ...(message.date ? { created: message.date } : {}),
      outline: sections.map((s) => s.name),
      ...(notes.length ? { notes } : {}),
      properties,
    },
    sections: [{ kind: 'body', index: 1, name: 'message', markdown: tidy(parts.join('\n\n')), tables }, ...sections],
  };
}

export const converter: Converter = {
  types: ['eml', 'msg'],
  async convert(input, type, options, inner): Promise<ConvertedDocument> {
    const message = type === 'msg' ? readMsg(input.bytes) : await readEml(input.bytes);
    return render(message, type === 'msg' ? 'msg' : 'eml', options, inner);
  },
};
