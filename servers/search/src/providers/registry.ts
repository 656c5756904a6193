import type { FolderPass, LocalIndex } from '../index-store.js';
import type { SearchProvider } from '../types.js';
import { braveProvider } from './brave.js';
import { duckduckgoProvider } from './duckduckgo.js';
import { exaProvider } from './exa.js';
import { LOCAL_DESCRIPTION, LOCAL_TITLE, localProvider } from './local.js';
import { searxngProvider } from './searxng.js';
import { serperProvider } from './serper.js';
import { tavilyProvider } from './tavily.js';
import { wikipediaProvider } from './wikipedia.js';

/**
 * Every web search provider, in the default order of preference among configured ones. A new
 * provider is a module in this folder and one entry here: config, environment names, help and the
 * engine's order are read from this list. The local index comes last, after them all.
 */
export const WEB_PROVIDERS = [serperProvider, braveProvider, tavilyProvider, exaProvider, searxngProvider, duckduckgoProvider, wikipediaProvider] as const;

export type ProviderName = (typeof WEB_PROVIDERS)[number]['name'] | 'local';

export const PROVIDER_NAMES = [...WEB_PROVIDERS.map((provider) => provider.name), 'local'] as unknown as readonly [ProviderName, ...ProviderName[]];

/** The providers as web_search's description lists them: "Serper/Google, Brave, …, or the local index of pages fetched before". */
export const PROVIDER_LIST = `${WEB_PROVIDERS.map((provider) => provider.title).join(', ')}, or ${LOCAL_TITLE}`;

/** Every provider the engine can ask, the local one searching `index`. */
export function allProviders(index: LocalIndex, firstPass?: FolderPass): SearchProvider[] {
  return [...WEB_PROVIDERS, localProvider(index, firstPass)] as SearchProvider[];
}

/** One line per provider for doctor and docs: its description, and what it still needs under `config`. */
export function providerReport(config: object): { name: ProviderName; ready: boolean; description: string; missing?: string }[] {
  const web = WEB_PROVIDERS.map((provider) => {
    const missing = (provider.missing as (config: object) => string | undefined)(config);
    return { name: provider.name, ready: missing === undefined, description: provider.description, ...(missing ? { missing } : {}) };
  });
  return [...web, { name: 'local', ready: true, description: LOCAL_DESCRIPTION }];
}
