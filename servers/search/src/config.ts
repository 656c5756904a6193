import { baseConfigSchema } from '@fathom/core';
import { z } from 'zod';
import { PROVIDER_NAMES, WEB_PROVIDERS } from './providers/registry.js';

const url = () => z.string().url();

type UnionToIntersection<U> = (U extends unknown ? (union: U) => void : never) extends (intersection: infer I) => void ? I : never;
type ProviderShape = UnionToIntersection<(typeof WEB_PROVIDERS)[number]['config']>;

/** The providers' own keys (their endpoints and credentials), in the registry's order. */
const providerShape = Object.assign({}, ...WEB_PROVIDERS.map((provider) => provider.config)) as ProviderShape;

export const configSchema = baseConfigSchema
  .extend({
    searchProviders: z
      .array(z.enum(PROVIDER_NAMES))
      .default([])
      .describe(`Providers to try, in order (comma-separated: ${PROVIDER_NAMES.join(', ')}); default: every configured one, then duckduckgo, then local`),
    fanout: z.boolean().default(false).describe('Ask every selected provider at once and fuse their rankings'),
  })
  .extend(providerShape)
  .extend({
    jinaApiKey: z.string().optional().describe('Jina Reader API key: pages are then fetched through Jina Reader'),
    jinaBaseUrl: url().default('https://r.jina.ai').describe('Jina Reader endpoint'),
    summaryLlmBaseUrl: url().optional().describe('OpenAI-compatible endpoint of the extraction model'),
    summaryLlmModelName: z.string().optional().describe('Extraction model name'),
    summaryLlmApiKey: z.string().optional().describe('Extraction model API key'),
    localFolders: z.array(z.string()).default([]).describe('Folders whose documents the local provider indexes (comma-separated)'),
    indexPath: z.string().optional().describe('Local full-text index file (default: beside --cache-path; on this machine even with --cache-url)'),
    searchTtlHours: z.number().positive().default(24).describe('How long search results are reused'),
    pageTtlHours: z.number().positive().default(24).describe('How long fetched pages are reused'),
    robots: z.boolean().default(true).describe('Honour robots.txt when fetching pages'),
    huggingfaceFilter: z.boolean().default(true).describe("mirothinker profile: drop MiroThinker's banned result URLs (huggingface.co datasets and spaces, unifuncs) and refuse to scrape Hugging Face datasets (benchmark-leak guard)"),
    mirothinkerRelease: z
      .enum(['v1.0', 'v1.5', '1.7', 'latest'])
      .default('1.7')
      .describe("mirothinker profile: the MiroThinker release whose result format is served: v1.0 indented JSON; v1.5, 1.7 (latest) compact JSON"),
    providerConcurrency: z.number().int().min(1).default(4).describe('Requests in flight to one provider'),
    providerMinIntervalMs: z.number().int().min(0).default(0).describe('Least time between two requests to one provider'),
    fetchTimeoutSeconds: z.number().positive().default(30).describe('Time limit of one page fetch'),
    workers: z.number().int().min(1).max(32).default(2).describe('Worker threads that convert pages and documents'),
    maxPageBytes: z.number().int().positive().default(20 * 1024 * 1024).describe('Largest page or document fetched'),
    userAgent: z
      .string()
      .default('Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36')
      .describe('User-Agent sent when fetching pages'),
  });

export type Config = z.infer<typeof configSchema>;

export const envAliases: Readonly<Record<string, readonly string[]>> = {
  searchProviders: ['FATHOM_SEARCH_PROVIDERS'],
  ...Object.assign({}, ...WEB_PROVIDERS.map((provider) => provider.env)),
  jinaApiKey: ['JINA_API_KEY'],
  jinaBaseUrl: ['JINA_BASE_URL'],
  summaryLlmBaseUrl: ['SUMMARY_LLM_BASE_URL'],
  summaryLlmModelName: ['SUMMARY_LLM_MODEL_NAME'],
  summaryLlmApiKey: ['SUMMARY_LLM_API_KEY'],
};
