import { FathomError } from '@fathom/core';
import { decodeText } from './decode.js';
import { MIME_OF } from './detect.js';
import { fence, tidy } from './markdown.js';
import type { Converter, DocumentInfo } from './types.js';

/** Fence languages by extension (or by the whole name for Dockerfile and Makefile). */
const LANGUAGES: Record<string, string> = {
  py: 'python', js: 'javascript', mjs: 'javascript', cjs: 'javascript', ts: 'typescript', tsx: 'tsx', jsx: 'jsx',
  java: 'java', c: 'c', h: 'c', cc: 'cpp', cpp: 'cpp', hpp: 'cpp', cs: 'csharp', go: 'go', rs: 'rust', rb: 'ruby',
  php: 'php', swift: 'swift', kt: 'kotlin', scala: 'scala', r: 'r', jl: 'julia', m: 'objectivec', sh: 'bash', bash: 'bash',
  zsh: 'zsh', ps1: 'powershell', sql: 'sql', css: 'css', scss: 'scss', lua: 'lua', pl: 'perl', hs: 'haskell', ml: 'ocaml',
  ex: 'elixir', exs: 'elixir', erl: 'erlang', clj: 'clojure', dart: 'dart', toml: 'toml', ini: 'ini', cfg: 'ini',
  tex: 'latex', bib: 'bibtex', dockerfile: 'dockerfile', makefile: 'makefile', proto: 'protobuf', graphql: 'graphql',
  vue: 'vue', svelte: 'svelte',
};

export const converter: Converter = {
  types: ['text', 'markdown', 'code'],
  async convert(input, type) {
    const { text: decoded, encoding } = decodeText(input.bytes, input.mimeType);
    const text = decoded.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
    if (binaryShare(text) > 0.05) {
      throw new FathomError('invalid_argument', 'Binary file: the content is not text, and its format is not one Fathom can read', {
        hint: 'Check the file type; convert it to a supported format (PDF, DOCX, XLSX, CSV, HTML, text…) first.',
      });
    }
    const name = baseName(input.name);
    const lines = text === '' ? 0 : text.replace(/\n$/, '').split('\n').length;
    const info: DocumentInfo = { type, mimeType: MIME_OF[type], properties: { encoding, lines } };
    let markdown: string;
    if (type === 'markdown') {
      markdown = text.trim();
      const outline = headings(text);
      const title = /^# +(.+?)\s*#*\s*$/m.exec(text)?.[1];
      if (title) info.title = title;
      if (outline.length) info.outline = outline;
    } else if (type === 'code') {
      const language = languageOf(name);
      if (language) info.properties!.language = language;
      markdown = fence(text, language);
    } else {
      markdown = tidy(text);
    }
    if (!text.trim()) info.notes = ['The file is empty.'];
    return { info, sections: [{ kind: 'body', index: 1, name: name ?? 'body', markdown }] };
  },
};

function baseName(name: string | undefined): string | undefined {
  const path = name?.split(/[?#]/)[0] ?? '';
  return path.slice(path.lastIndexOf('/') + 1) || undefined;
}

function languageOf(name: string | undefined): string | undefined {
  const base = name?.toLowerCase() ?? '';
  const dot = base.lastIndexOf('.');
  return LANGUAGES[dot > 0 ? base.slice(dot + 1) : base];
}

/** ATX headings outside fenced code blocks, as "## Title". */
function headings(markdown: string): string[] {
  const outline: string[] = [];
  let fence: string | undefined;
  for (const line of markdown.split('\n')) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (!fence || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence ? undefined : marker;
      continue;
    }
    const heading = fence ? undefined : /^ {0,3}(#{1,6}) +(.+?)(?: +#+)?\s*$/.exec(line);
    if (heading) outline.push(`${heading[1]} ${heading[2]}`);
  }
  return outline;
}

/** Tab, line feed, vertical tab, form feed, carriage return and the escape of ANSI colours. */
const TEXT_CONTROLS = new Set([9, 10, 11, 12, 13, 27]);

/** The share of characters in the first 8 KB that only binary data has: other controls, U+FFFD. */
export function binaryShare(text: string): number {
  const sample = text.slice(0, 8192);
  let binary = 0;
  for (let i = 0; i < sample.length; i++) {
    const code = sample.charCodeAt(i);
    if ((code < 0x20 && !TEXT_CONTROLS.has(code)) || code === 0x7f || code === 0xfffd) binary++;
  }
  return sample.length ? binary / sample.length : 0;
}
