import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '@fathom/core';
import { connectInMemory, textOf } from '@fathom/core/testing';
import type { InMemoryConnection } from '@fathom/core/testing';
import { ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import JSZip from 'jszip';
import PDFDocument from 'pdfkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { outputChecker } from '../../../tests/outputs.js';
import { configSchema } from '../src/config.js';
import { createServer, definition } from '../src/server.js';

let root: string;
let outside: string;

function pdf(pages: string[]): Promise<Buffer> {
  const doc = new PDFDocument({ autoFirstPage: false, info: { Title: 'Tool test', Author: 'Fathom' } });
  const chunks: Buffer[] = [];
  doc.on('data', (chunk: Buffer) => chunks.push(chunk));
  for (const text of pages) doc.addPage().fontSize(12).text(text);
  doc.end();
  return once(doc, 'end').then(() => Buffer.concat(chunks));
}

async function connect(flags: Record<string, string> = {}, capabilities = {}): Promise<InMemoryConnection> {
  const config = loadConfig(configSchema, {
    server: 'files',
    flags: { roots: root, 'cache-mode': 'off', 'conversion-timeout-seconds': '20', ...flags },
    env: {},
    cwd: root,
  });
  return connectInMemory(await createServer(config), { capabilities });
}

async function call(connection: InMemoryConnection, name: string, args: Record<string, unknown>) {
  const result = await connection.client.callTool({ name, arguments: args });
  return { result, text: textOf(result), structured: result.structuredContent as Record<string, unknown> | undefined, isError: result.isError === true };
}

beforeAll(async () => {
  const base = mkdtempSync(join(tmpdir(), 'fathom-files-tools-'));
  root = join(base, 'root');
  outside = join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'top secret');
  symlinkSync(join(outside, 'secret.txt'), join(root, 'escape.txt'));
  writeFileSync(join(root, 'long.md'), Array.from({ length: 400 }, (_, i) => `Paragraph ${i + 1}: the quick brown fox jumps over the lazy dog.`).join('\n\n'));
  writeFileSync(
    join(root, 'page.html'),
    `<html><head><title>Results page</title><script>var tracking = "SCRIPT-TEXT";</script></head><body>
     <nav>Home | About</nav><main><h1>Results</h1><p>${'The experiment measured growth. '.repeat(20)}</p>
     <h2>Table</h2><table><tr><th>Sample</th><th>Growth</th></tr><tr><td>A</td><td>1.5</td></tr><tr><td>B</td><td>2.25</td></tr></table>
     <p>See <a href="/methods">the methods</a>.</p></main></body></html>`,
  );
  writeFileSync(join(root, 'report.pdf'), await pdf(['Introduction to the study.', 'Methods: we counted 42 birds.', 'Results: the count rose.']));
  writeFileSync(join(root, 'broken.pdf'), (await pdf(['Short'])).subarray(0, 300));
  const bomb = new JSZip();
  bomb.file('zeros.txt', Buffer.alloc(40 * 1024 * 1024));
  bomb.file('readme.txt', 'hello from inside');
  writeFileSync(join(root, 'bomb.zip'), await bomb.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' }));
  writeFileSync(join(root, 'broken.docx'), Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(200, 7)]));
}, 60_000);

afterAll(async () => {
  await definition.shutdown();
  rmSync(join(root, '..'), { recursive: true, force: true });
});

describe('files server tools', () => {
  let files: InMemoryConnection;
  beforeAll(async () => {
    files = await connect();
  });
  afterAll(async () => files.close());

  it('lists exactly its tools in both profiles', async () => {
    const names = (await files.client.listTools()).tools.map((tool) => tool.name);
    expect(names).toEqual(['read_document', 'document_info', 'search_document', 'extract_tables', 'list_files', 'convert_to_markdown']);
    const miro = await connect({ profile: 'mirothinker' });
    expect((await miro.client.listTools()).tools.map((tool) => tool.name)).toEqual(names);
    await miro.close();
  });

  it("answers every data tool with structuredContent that validates against the outputSchema it advertises", async () => {
    const checker = await outputChecker(files.client);
    await checker.call('read_document', { source: 'long.md', max_chars: 5000 });
    await checker.call('read_document', { source: 'report.pdf', pages: '2' });
    await checker.call('document_info', { source: 'report.pdf' });
    await checker.call('document_info', { source: 'page.html' });
    await checker.call('search_document', { source: 'report.pdf', query: 'birds' });
    await checker.call('search_document', { source: 'long.md', query: 'no such words' });
    await checker.call('extract_tables', { source: 'page.html' });
    await checker.call('extract_tables', { source: 'long.md' });
    await checker.call('list_files', {});
    await checker.call('list_files', { glob: '**/*', max_entries: 1 });
    expect(checker.unchecked()).toEqual([]);
    // convert_to_markdown answers markitdown's plain markdown, with no structured form.
    const listed = (await files.client.listTools()).tools;
    expect(listed.filter((tool) => !tool.outputSchema).map((tool) => tool.name)).toEqual(['convert_to_markdown']);
  });

  it('reads a long document in parts with a cursor, and the parts join to the whole', async () => {
    let cursor: string | undefined;
    const parts: string[] = [];
    let calls = 0;
    do {
      const { structured, text, isError } = await call(files, 'read_document', { source: 'long.md', max_chars: 5000, ...(cursor ? { cursor } : {}) });
      expect(isError).toBe(false);
      const start = structured!.start as number;
      const end = structured!.end as number;
      parts.push(text.slice(0, end - start));
      cursor = structured!.next_cursor as string | undefined;
      if (cursor) expect(text).toContain(cursor);
      calls++;
    } while (cursor && calls < 50);
    expect(calls).toBeGreaterThan(3);
    expect(parts.join('')).toContain('Paragraph 1: the quick');
    expect(parts.join('')).toContain('Paragraph 400: the quick');
    const bad = await call(files, 'read_document', { source: 'page.html', cursor: 'not-a-cursor' });
    expect(bad.isError).toBe(true);
  });

  it('reads chosen PDF pages with page markers and metadata', async () => {
    const { text, structured, isError } = await call(files, 'read_document', { source: 'report.pdf', pages: '2-3' });
    expect(isError).toBe(false);
    expect(text).toContain('<!-- page 2 -->');
    expect(text).toContain('42 birds');
    expect(text).not.toContain('<!-- page 1 -->');
    expect(structured).toMatchObject({ type: 'pdf', title: 'Tool test', selection: 'pages 2-3 of 3' });
    const none = await call(files, 'read_document', { source: 'report.pdf', pages: '9' });
    expect(none.isError).toBe(true);
    expect(none.text).toMatch(/3 pages/);
  });

  it('converts HTML to main-content markdown without scripts, with absolute-free links kept and tables', async () => {
    const { text } = await call(files, 'read_document', { source: 'page.html' });
    expect(text).toContain('# Results');
    expect(text).toMatch(/\| Sample \| Growth \|/);
    expect(text).not.toContain('SCRIPT-TEXT');
    expect(text).not.toContain('<table');
    const tables = await call(files, 'extract_tables', { source: 'page.html' });
    expect(tables.structured!.tables).toEqual([{ location: 'table 1', header: ['Sample', 'Growth'], rows: [['A', '1.5'], ['B', '2.25']] }]);
  });

  it('describes a document', async () => {
    const { structured, text } = await call(files, 'document_info', { source: 'report.pdf' });
    expect(structured).toMatchObject({ type: 'pdf', pages: 3, title: 'Tool test', author: 'Fathom', sections: 3 });
    expect(text).toContain('Pages: 3');
  });

  it('searches with plain text and regular expressions, and refuses a bad pattern', async () => {
    const plain = await call(files, 'search_document', { source: 'report.pdf', query: 'BIRDS' });
    expect(plain.structured).toMatchObject({ total_matches: 1 });
    expect((plain.structured!.matches as { location: string }[])[0]!.location).toMatch(/^page 2, line/);
    const regex = await call(files, 'search_document', { source: 'long.md', query: 'Paragraph 3\\d\\d:', regex: true, max_results: 5, context_lines: 0 });
    expect(regex.structured!.total_matches).toBe(100);
    expect((regex.structured!.matches as unknown[]).length).toBe(5);
    const bad = await call(files, 'search_document', { source: 'long.md', query: '(unclosed', regex: true });
    expect(bad.isError).toBe(true);
    expect(bad.text).toContain('Invalid regular expression');
  });

  it('converts data: and file: URIs like markitdown', async () => {
    const data = await call(files, 'convert_to_markdown', { uri: `data:text/html;base64,${Buffer.from('<h1>Hi</h1><p>there</p>').toString('base64')}` });
    expect(data.text).toContain('# Hi');
    const file = await call(files, 'convert_to_markdown', { uri: pathToFileURL(join(root, 'long.md')).href });
    expect(file.text).toContain('Paragraph 400');
  });

  it('refuses paths outside the roots, including through a symlink', async () => {
    const escape = await call(files, 'read_document', { source: 'escape.txt' });
    expect(escape.isError).toBe(true);
    expect(escape.text).toContain('outside the folders');
    const dotdot = await call(files, 'read_document', { source: '../outside/secret.txt' });
    expect(dotdot.isError).toBe(true);
    expect(escape.text + dotdot.text).not.toContain('top secret');
    const missing = await call(files, 'read_document', { source: 'nope.pdf' });
    expect(missing.isError).toBe(true);
    expect(missing.text).toContain('list_files');
  });

  it('names corrupt files plainly and keeps answering', async () => {
    const pdfError = await call(files, 'read_document', { source: 'broken.pdf' });
    expect(pdfError.isError).toBe(true);
    expect(pdfError.text).toMatch(/PDF/);
    const docxError = await call(files, 'read_document', { source: 'broken.docx' });
    expect(docxError.isError).toBe(true);
    const after = await call(files, 'read_document', { source: 'long.md', max_chars: 500 });
    expect(after.isError).toBe(false);
  });

  it('refuses a ZIP bomb and keeps answering', async () => {
    const bomb = await call(files, 'read_document', { source: 'bomb.zip' });
    expect(bomb.isError).toBe(true);
    expect(bomb.text).toMatch(/ZIP bomb refused/);
    const after = await call(files, 'document_info', { source: 'long.md' });
    expect(after.isError).toBe(false);
  });

  it('stops a conversion that runs too long, and the next call works', async () => {
    const slow = await connect({ 'conversion-timeout-seconds': '0.001' });
    const timedOut = await call(slow, 'read_document', { source: 'report.pdf' });
    expect(timedOut.isError).toBe(true);
    expect(timedOut.text).toMatch(/took longer than/);
    await slow.close();
    const fine = await call(files, 'read_document', { source: 'report.pdf', pages: '1' });
    expect(fine.text).toContain('Introduction');
  });
});

describe('sources', () => {
  it('fetches http(s) documents through the guarded client, only from allowed hosts', async () => {
    const web = createHttpServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<html><head><title>Remote</title></head><body><h1>Remote page</h1><p>Served at ${req.url}</p></body></html>`);
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(web.address() as AddressInfo).port}/doc.html`;
    try {
      const refused = await connect();
      const blocked = await call(refused, 'read_document', { source: url });
      expect(blocked.isError).toBe(true);
      expect(blocked.text).toMatch(/private|loopback|Refused/i);
      await refused.close();

      const allowed = await connect({ 'egress-allow': '127.0.0.1' });
      const read = await call(allowed, 'read_document', { source: url });
      expect(read.isError).toBe(false);
      expect(read.text).toContain('Remote page');
      expect(read.structured).toMatchObject({ source: url, type: 'html' });
      await allowed.close();
    } finally {
      web.close();
    }
  });

  it('narrows the configured roots to the roots a client offers, and never widens them', async () => {
    const offered = join(root, 'offered');
    mkdirSync(offered);
    writeFileSync(join(offered, 'theirs.txt'), 'from the client root');
    const connection = await connect({}, { roots: { listChanged: true } });
    connection.client.setRequestHandler(ListRootsRequestSchema, () => ({
      roots: [
        { uri: pathToFileURL(offered).href, name: 'offered' },
        { uri: pathToFileURL(outside).href, name: 'outside the configured root' },
      ],
    }));
    const theirs = await call(connection, 'read_document', { source: join(offered, 'theirs.txt') });
    expect(theirs.text).toContain('from the client root');
    const ours = await call(connection, 'read_document', { source: join(root, 'long.md') });
    expect(ours.isError).toBe(true);
    const beyond = await call(connection, 'read_document', { source: join(outside, 'secret.txt') });
    expect(beyond.isError).toBe(true);
    await connection.close();
    rmSync(offered, { recursive: true, force: true });
  });
});
