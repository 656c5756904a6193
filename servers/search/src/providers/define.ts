import type { z } from 'zod';
import type { DefaultUse, ProviderContext, SearchProvider, SearchRequest, SearchResult, TimeRange } from '../types.js';

/** A provider as its module writes it; `defineProvider` fills in the defaults and `missing`. */
export interface ProviderSpec<N extends string, S extends z.ZodRawShape> {
  name: N;
  title: string;
  description: string;
  config: S;
  env?: { readonly [K in keyof S]?: readonly string[] };
  requires?: { key: keyof S & string; env: string };
  byDefault: DefaultUse;
  cached?: boolean;
  customTbs?: boolean;
  timeRanges?: Readonly<Record<TimeRange, TimeRange>>;
  endpoint(config: z.infer<z.ZodObject<S>>): string;
  search(request: SearchRequest, context: ProviderContext<z.infer<z.ZodObject<S>>>): Promise<SearchResult[]>;
}

export function defineProvider<const N extends string, S extends z.ZodRawShape>(spec: ProviderSpec<N, S>): SearchProvider<z.infer<z.ZodObject<S>>, N, S> {
  const { requires } = spec;
  return {
    cached: true,
    customTbs: false,
    ...spec,
    env: (spec.env ?? {}) as Readonly<Record<string, readonly string[]>>,
    missing: (config) => (requires && !(config as Record<string, unknown>)[requires.key] ? `${requires.env} is not set` : undefined),
  };
}
