import { FathomError } from '@fathom/core';
import type { FolderPass, LocalIndex } from '../index-store.js';
import type { SearchProvider } from '../types.js';
import { defineProvider } from './define.js';

/** How long a search waits for the first pass over the local folders before it answers from what is indexed. */
export const FIRST_PASS_WAIT_MS = 5000;

export const LOCAL_TITLE = 'the local index of pages fetched before';
export const LOCAL_DESCRIPTION = 'local: a full-text index of the pages fetched before and of --local-folders, offline (the last resort)';

/**
 * Searches the local full-text index: pages fetched before and the operator's folders. While the
 * first pass over the folders runs, a search waits for it (up to `waitMs`); an empty answer from an
 * index still being built is an error that says so, not "no results".
 */
export function localProvider(index: LocalIndex, firstPass?: FolderPass, waitMs = FIRST_PASS_WAIT_MS): SearchProvider<unknown, 'local'> {
  return defineProvider({
    name: 'local',
    title: LOCAL_TITLE,
    description: LOCAL_DESCRIPTION,
    config: {},
    byDefault: 'always',
    // The index changes with every page fetched.
    cached: false,
    endpoint: () => 'the local index',
    search: async (request, { signal }) => {
      const running = firstPass && !(await firstPass.settled(waitMs, signal)) ? firstPass : undefined;
      const results = index.search(request);
      const indexing = running?.note();
      if (indexing && !results.length) {
        throw new FathomError('unavailable', indexing, { hint: 'Ask again in a few seconds, when the local folders are indexed.' });
      }
      return results;
    },
  });
}
