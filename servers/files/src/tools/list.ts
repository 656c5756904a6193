import type { Dirent } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { FathomError, defineTool, resolveWithinRoots, respond } from '@fathom/core';
import { z } from 'zod';
import { compileGlob } from '../glob.js';

const entrySchema = z.object({
  path: z.string().describe('Path relative to the listed folder'),
  type: z.enum(['file', 'directory', 'symlink', 'other']),
  size: z.number().describe('Bytes (files only; 0 otherwise)'),
  modified: z.string().describe('Last modification, ISO 8601'),
});

const MAX_DEPTH = 32;
const MAX_ENTRIES = 5000;
/** Past the cut, matches are counted up to this many more, then the walk stops. */
const MAX_UNSHOWN = 100_000;

const listOutput = z.object({
  folder: z.string().describe('The absolute folder listed'),
  entries: z.array(entrySchema),
  truncated: z.boolean().describe('True when more entries matched than max_entries'),
  not_shown: z.number().optional().describe(`When truncated: matching entries left out (at least this many when over ${MAX_UNSHOWN})`),
});

function kind(entry: Dirent): z.infer<typeof entrySchema>['type'] {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'directory';
  if (entry.isSymbolicLink()) return 'symlink';
  return 'other';
}

async function describe(child: Dirent, full: string, rel: string): Promise<z.infer<typeof entrySchema>> {
  const info = await lstat(full).catch(() => undefined);
  return { path: rel, type: kind(child), size: child.isFile() ? (info?.size ?? 0) : 0, modified: info ? info.mtime.toISOString() : '' };
}

function cutNote(shown: number, notShown: number, countStopped: boolean): string {
  const more = countStopped ? 'at least ' : '';
  const raise = shown < MAX_ENTRIES ? `raise max_entries (up to ${MAX_ENTRIES}), ` : '';
  return (
    `[Cut at ${shown} of ${more}${shown + notShown} matching entries: ${more}${notShown} not shown. ` +
    `Narrow the list with a glob (e.g. "*.pdf", "**/*.csv"), ${raise}or list a subfolder as path.]`
  );
}

export const listFiles = () =>
  defineTool({
    name: 'list_files',
    title: 'List files',
    description:
      'List the files this server may read, under one of its allowed folders. Use a glob such as "*.pdf" ' +
      '(this folder) or "**/*.csv" (all subfolders) to narrow the list. Hidden files are shown only when the ' +
      'glob names them (".*").',
    input: z.object({
      path: z.string().default('.').describe('Folder to list, relative to the first allowed folder or absolute'),
      glob: z.string().default('*').describe('Which entries to show, e.g. "*.pdf" or "**/*.csv"'),
      max_entries: z.number().int().min(1).max(MAX_ENTRIES).default(500).describe('Most entries to return'),
    }),
    output: listOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    async handle({ path, glob, max_entries }, context) {
      const folder = await resolveWithinRoots(path, await context.roots());
      const stat = await lstat(folder).catch(() => undefined);
      if (!stat?.isDirectory()) {
        throw new FathomError('not_found', `${path} is not a folder`, { hint: 'Call list_files with no path to see the top folder.' });
      }
      const matches = compileGlob(glob);
      const recursive = glob.includes('**') || glob.includes('/');
      const showHidden = glob.startsWith('.') || glob.includes('/.');
      const entries: z.infer<typeof entrySchema>[] = [];
      let notShown = 0;
      let countStopped = false;

      const walk = async (dir: string, depth: number): Promise<void> => {
        const children = await readdir(dir, { withFileTypes: true }).catch(() => [] as Dirent[]);
        children.sort((a, b) => a.name.localeCompare(b.name));
        for (const child of children) {
          if (countStopped) return;
          if (child.name.startsWith('.') && !showHidden) continue;
          const full = join(dir, child.name);
          const rel = relative(folder, full).split('\\').join('/');
          if (matches(rel)) {
            if (entries.length < max_entries) entries.push(await describe(child, full, rel));
            else countStopped = ++notShown >= MAX_UNSHOWN;
          }
          if (recursive && child.isDirectory() && depth < MAX_DEPTH) await walk(full, depth + 1);
        }
      };
      await walk(folder, 0);
      const truncated = notShown > 0;

      const header =
        `${folder}: ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} matching "${glob}"` +
        (truncated ? ` (first ${max_entries}; narrow the glob or ${max_entries < MAX_ENTRIES ? 'raise max_entries' : 'list a subfolder'})` : '');
      const lines = entries.map((e) => `${e.type === 'directory' ? e.path + '/' : e.path}${e.type === 'file' ? `  (${e.size} bytes)` : ''}`);
      if (truncated) lines.push(cutNote(max_entries, notShown, countStopped));
      // A line per entry, so one section: sections are set apart by blank lines.
      return respond<z.infer<typeof listOutput>>()
        .text([header, ...lines].join('\n'))
        .structured({ folder, entries, truncated, ...(truncated ? { not_shown: notShown } : {}) });
    },
  });
