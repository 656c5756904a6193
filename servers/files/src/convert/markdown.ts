import type { Table } from './types.js';

/** A cell's text made safe for a GFM table row: one line, pipes escaped. */
export function cell(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|').trim();
}

/** A GFM table. Rows shorter than the widest are padded; an empty header gets column letters. */
export function gfmTable(header: readonly unknown[], rows: readonly (readonly unknown[])[]): string {
  const width = Math.max(header.length, ...rows.map((row) => row.length), 1);
  const pad = (row: readonly unknown[]) => Array.from({ length: width }, (_, i) => cell(row[i]));
  const head = header.some((value) => cell(value) !== '') ? pad(header) : Array.from({ length: width }, (_, i) => columnName(i));
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const row of rows) lines.push(`| ${pad(row).join(' | ')} |`);
  return lines.join('\n');
}

export function tableMarkdown(table: Table): string {
  return (table.caption ? `${table.caption}\n\n` : '') + gfmTable(table.header, table.rows);
}

/** A, B, …, Z, AA, AB…: spreadsheet column names. */
export function columnName(index: number): string {
  let name = '';
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
  return name;
}

/** A fenced code block whose fence is longer than any backtick run inside it. */
export function fence(code: string, language = ''): string {
  const longest = Math.max(2, ...(code.match(/`+/g) ?? []).map((run) => run.length));
  const ticks = '`'.repeat(longest + 1);
  return `${ticks}${language}\n${code.replace(/\s+$/, '')}\n${ticks}`;
}

/** Collapses runs of blank lines and trailing spaces that converters leave behind. */
export function tidy(markdown: string): string {
  return markdown
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
