import { FathomError } from '@fathom/core';
import type { Section } from './convert/types.js';

export interface SearchRequest {
  sections: Pick<Section, 'kind' | 'index' | 'name' | 'markdown'>[];
  query: string;
  regex: boolean;
  contextLines: number;
  maxResults: number;
}

export interface SearchMatch {
  /** "page 3", "sheet Budget", "slide 2", or "line 120" for a document without parts. */
  location: string;
  line: number;
  passage: string;
}

export function locationOf(section: Pick<Section, 'kind' | 'name'>): string {
  return section.kind === 'body' ? '' : `${section.kind === 'member' ? 'file' : section.kind} ${section.name}`;
}

/** `source` compiled with `flags`, or a clear error when it is not a regular expression. */
export function compilePattern(source: string, flags: string): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (error) {
    throw new FathomError('invalid_argument', `Invalid regular expression: ${(error as Error).message}`, {
      hint: 'Fix the pattern, or search for plain text with regex: false.',
    });
  }
}

function matcher(query: string, regex: boolean): (line: string) => boolean {
  if (!regex) {
    const needle = query.toLowerCase();
    return (line) => line.toLowerCase().includes(needle);
  }
  const pattern = compilePattern(query, 'i');
  return (line) => pattern.test(line);
}

export interface MatchRequest {
  text: string;
  source: string;
  flags: string;
  /** Ranges returned; `total` counts matches up to `cap`. */
  limit: number;
  cap: number;
}

/** Where `source` matches in `text` (non-empty matches). Runs in a worker, where a costly pattern can be stopped. */
export function matchRanges(request: MatchRequest): { ranges: [number, number][]; total: number } {
  const pattern = compilePattern(request.source, request.flags.includes('g') ? request.flags : `${request.flags}g`);
  const ranges: [number, number][] = [];
  let total = 0;
  for (let match = pattern.exec(request.text); match !== null && total < request.cap; match = pattern.exec(request.text)) {
    if (match[0] === '') {
      pattern.lastIndex++;
      continue;
    }
    total++;
    if (ranges.length < request.limit) ranges.push([match.index, match.index + match[0].length]);
  }
  return { ranges, total };
}

/** Lines that match, with `contextLines` around each; overlapping passages are merged. Runs in a worker. */
export function searchSections(request: SearchRequest): { matches: SearchMatch[]; total: number } {
  const test = matcher(request.query, request.regex);
  const matches: SearchMatch[] = [];
  let total = 0;
  for (const section of request.sections) {
    const lines = section.markdown.split('\n');
    let lastEnd = -1;
    for (let i = 0; i < lines.length; i++) {
      if (!test(lines[i]!)) continue;
      total++;
      const start = Math.max(0, i - request.contextLines);
      const end = Math.min(lines.length - 1, i + request.contextLines);
      if (start <= lastEnd && matches.length > 0) {
        const previous = matches[matches.length - 1]!;
        previous.passage += '\n' + lines.slice(lastEnd + 1, end + 1).join('\n');
      } else if (matches.length < request.maxResults) {
        const where = locationOf(section);
        matches.push({ location: where ? `${where}, line ${i + 1}` : `line ${i + 1}`, line: i + 1, passage: lines.slice(start, end + 1).join('\n') });
      }
      lastEnd = Math.max(lastEnd, end);
    }
  }
  return { matches, total };
}

/** The error for a search stopped at its time limit: with a regular expression, almost always the pattern's fault. */
export function searchTooLong(regex: boolean): (seconds: number) => FathomError {
  return (seconds) =>
    regex
      ? new FathomError('timeout', `The regular expression took longer than ${seconds} s to run over the document and was stopped: the pattern is too costly`, {
          hint: 'Search for plain text instead (regex: false), or simplify the pattern: nested repeats such as (a+)+ or (.*)* can take forever on some lines.',
        })
      : new FathomError('timeout', `The search took longer than ${seconds} s and was stopped`, { hint: 'Search a smaller document, or a part of it read with read_document.' });
}
