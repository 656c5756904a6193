import type { LocalIndex } from '../index-store.js';
import type { SearchProvider } from '../types.js';

/** Searches the local full-text index: pages fetched before and the operator's folders. Always ready. */
export function localProvider(index: LocalIndex): SearchProvider {
  return {
    name: 'local',
    missing: () => undefined,
    endpoint: () => 'the local index',
    search: async (request) => index.search(request),
  };
}
