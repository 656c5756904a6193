import { FathomError } from '@fathom/core';
import { z } from 'zod';
import { parseRanges, selectSections } from '../convert/index.js';
import type { ConvertedDocument, Section } from '../convert/types.js';

export const sourceField = z
  .string()
  .min(1)
  .describe('The document: a path under the allowed folders, an http(s) URL, a file: URI or a data: URI');

export const pagesField = z
  .string()
  .optional()
  .describe('Pages (PDF), slides, chapters or items to read, e.g. "3", "1-5" or "2,4,10-12"; default all');

export const sheetField = z.string().optional().describe('For spreadsheets: the sheet name (or number) to read; default all');

export interface Selected {
  sections: Section[];
  /** "pages 1-3 of 12", "sheet Budget", or "" for the whole document. */
  label: string;
}

const PLURAL: Record<Section['kind'], string> = {
  page: 'pages',
  sheet: 'sheets',
  slide: 'slides',
  chapter: 'chapters',
  member: 'files',
  item: 'items',
  body: 'parts',
};

/** The sections `pages` and `sheet` ask for, or an error that lists what there is. */
export function select(document: ConvertedDocument, pages: string | undefined, sheet: string | undefined): Selected {
  const all = document.sections;
  if (pages === undefined && sheet === undefined) return { sections: all, label: '' };
  const kind = all.find((section) => section.kind !== 'body' && section.index > 0)?.kind ?? 'body';
  let sections = all;
  const labels: string[] = [];
  if (pages !== undefined) {
    const count = Math.max(0, ...all.map((section) => section.index));
    const wanted = parseRanges(pages, count);
    // No wanted section (all past the end) selects none, not all.
    sections = wanted.length ? selectSections({ ...document, sections }, { sections: wanted }) : [];
    labels.push(`${PLURAL[kind]} ${pages} of ${count}`);
  }
  if (sheet !== undefined) {
    const byNumber = /^\d+$/.test(sheet) ? Number(sheet) : undefined;
    const names = [...new Set(all.filter((section) => section.kind === 'sheet').map((section) => section.name))];
    const name = byNumber !== undefined ? names[byNumber - 1] : names.find((candidate) => candidate.toLowerCase() === sheet.toLowerCase());
    if (!name) {
      throw new FathomError('not_found', `No sheet "${sheet}" in this document`, {
        hint: names.length ? `Its sheets are: ${names.join(', ')}.` : 'It has no sheets; leave sheet out.',
      });
    }
    sections = selectSections({ ...document, sections }, { name });
    labels.push(`sheet ${name}`);
  }
  if (sections.length === 0) {
    throw new FathomError('not_found', `Nothing in this document matches ${labels.join(', ')}`, {
      hint: `It has ${all.length} ${PLURAL[kind]}${kind === 'body' ? '' : ` (${all[0]?.name ?? ''}…${all.at(-1)?.name ?? ''})`}.`,
    });
  }
  return { sections, label: labels.join(', ') };
}
