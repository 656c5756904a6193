import { FathomError } from '@fathom/core';
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import { convert, renderMarkdown } from '../src/convert/index.js';
import { fence as fenced } from '../src/convert/markdown.js';

const bytes = (text: string) => new Uint8Array(Buffer.from(text));

describe('code', () => {
  it('fences code with the language of its extension', async () => {
    const source = 'def greet(name):\r\n    return f"hello {name}"\r\n';
    const document = await convert({ bytes: bytes(source), name: 'src/greet.py' });
    expect(document.info.type).toBe('code');
    expect(document.info.properties).toEqual({ encoding: 'utf-8', lines: 2, language: 'python' });
    expect(document.sections).toEqual([
      { kind: 'body', index: 1, name: 'greet.py', markdown: '```python\ndef greet(name):\n    return f"hello {name}"\n```' },
    ]);
  });

  it('uses a fence longer than any backtick run inside', async () => {
    const source = 'const doc = `\n```js\nlet x = 1;\n```\n`;\n';
    const document = await convert({ bytes: bytes(source), name: 'docs.ts' });
    const markdown = renderMarkdown(document);
    expect(markdown.startsWith('````typescript\n')).toBe(true);
    expect(markdown.endsWith('\n````')).toBe(true);
    expect(markdown).toContain('```js\nlet x = 1;\n```');
    expect(fenced('a ````` b', 'sh')).toBe('``````sh\na ````` b\n``````');
    expect(fenced('plain')).toBe('```\nplain\n```');
  });

  it('names Dockerfiles and Makefiles by their whole name', async () => {
    const document = await convert({ bytes: bytes('FROM node:20\nRUN npm ci\n'), name: 'Dockerfile' });
    expect(document.info.properties?.language).toBe('dockerfile');
    expect(document.sections[0]!.markdown.split('\n')[0]).toBe('```dockerfile');
  });
});

describe('markdown and plain text', () => {
  it('passes markdown through and lists its headings', async () => {
    const source = '# Guide\n\nIntro with `code`.\n\n## Install\n\n```sh\n# not a heading\nnpm i\n```\n\n## Use ##\n';
    const document = await convert({ bytes: bytes(source), name: 'README.md' });
    expect(document.info.type).toBe('markdown');
    expect(document.info.title).toBe('Guide');
    expect(document.info.outline).toEqual(['# Guide', '## Install', '## Use']);
    expect(document.sections[0]!.markdown).toBe(source.trim());
  });

  it('keeps plain text as it is, tidied', async () => {
    const source = 'Line one   \n\n\n\nLine two\twith tab\n';
    const document = await convert({ bytes: bytes(source), name: 'notes.txt' });
    expect(document.info.type).toBe('text');
    expect(document.sections[0]!.markdown).toBe('Line one\n\nLine two\twith tab');
    expect(document.info.properties).toEqual({ encoding: 'utf-8', lines: 5 });
  });

  it('decodes legacy encodings and reports them', async () => {
    const japanese = await convert({ bytes: iconv.encode('こんにちは、世界。\n東京は晴れです。\n', 'Shift_JIS'), name: 'memo.txt' });
    expect(japanese.info.properties?.encoding).toBe('shift_jis');
    expect(japanese.sections[0]!.markdown).toBe('こんにちは、世界。\n東京は晴れです。');
    const french = await convert({ bytes: iconv.encode('Le café est prêt à l’heure.\n', 'windows-1252'), name: 'fr.txt' });
    expect(french.info.properties?.encoding).toBe('windows-1252');
    expect(french.sections[0]!.markdown).toBe('Le café est prêt à l’heure.');
    const declared = await convert({ bytes: iconv.encode('Привет, мир', 'koi8-r'), mimeType: 'text/plain; charset=KOI8-R' });
    expect(declared.info.properties?.encoding).toBe('koi8-r');
    expect(declared.sections[0]!.markdown).toBe('Привет, мир');
  });

  it('strips a byte-order mark and reads UTF-16', async () => {
    const withBom = await convert({ bytes: new Uint8Array([0xef, 0xbb, 0xbf, ...Buffer.from('hello')]), name: 'a.txt' });
    expect(withBom.sections[0]!.markdown).toBe('hello');
    const utf16 = await convert({ bytes: new Uint8Array(iconv.encode('\ufeffwide text\n', 'utf-16be')), name: 'w.txt' });
    expect(utf16.info.properties?.encoding).toBe('utf-16be');
    expect(utf16.sections[0]!.markdown).toBe('wide text');
  });

  it('notes an empty file', async () => {
    const document = await convert({ bytes: new Uint8Array(), name: 'empty.txt' });
    expect(document.sections[0]!.markdown).toBe('');
    expect(document.info.notes).toEqual(['The file is empty.']);
    expect(document.info.properties?.lines).toBe(0);
  });

  it('refuses binary data instead of printing it', async () => {
    const binary = new Uint8Array(2048).map((_, i) => (i * 131) % 256);
    const error = await convert({ bytes: binary, name: 'blob.txt' }).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(FathomError);
    expect((error as FathomError).code).toBe('invalid_argument');
    expect((error as FathomError).message).toMatch(/^Binary file/);
  });
});
