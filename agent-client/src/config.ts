import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { FathomError, errorMessage, mirothinkerHarness } from '@fathom/core';
import type { ModelSettings } from './types.js';

const toolFilterSchema = z.strictObject({
  allow: z.array(z.string().min(1)).optional(),
  deny: z.array(z.string().min(1)).optional(),
});

const commonEntry = {
  tools: toolFilterSchema.optional(),
  disabled: z.boolean().optional(),
};

const stdioEntrySchema = z.strictObject({
  type: z.literal('stdio').optional(),
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).default({}),
  cwd: z.string().min(1).optional(),
  ...commonEntry,
});

const httpEntrySchema = z.strictObject({
  type: z.enum(['http', 'streamable-http', 'streamableHttp']).optional(),
  url: z.string().min(1),
  headers: z.record(z.string(), z.string()).default({}),
  ...commonEntry,
});

const modelConfigSchema = z.strictObject({
  baseUrl: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional(),
  model: z.string().min(1).optional(),
  apiKey: z.string().optional(),
  temperature: z.number().min(0).max(2).optional(),
  topP: z.number().gt(0).max(1).optional(),
  maxTokens: z.number().int().positive().optional(),
  repetitionPenalty: z.number().positive().optional(),
  contextTokens: z.number().int().positive().optional(),
  timeoutSeconds: z.number().positive().optional(),
  retries: z.number().int().min(1).optional(),
});

/** Unknown top-level keys are ignored, so a host's own config file can be shared. */
const fileSchema = z.object({
  mcpServers: z.record(z.string().min(1), z.record(z.string(), z.unknown())),
  model: z.unknown().optional(),
  agent: z.unknown().optional(),
});

const agentSectionSchema = z.strictObject({
  /** One of MiroThinker's agent config names. */
  config: z.string().min(1).optional(),
});

export type StdioServerEntry = z.infer<typeof stdioEntrySchema>;
export type HttpServerEntry = z.infer<typeof httpEntrySchema>;
export type ServerEntry = StdioServerEntry | HttpServerEntry;
export type ModelConfig = z.infer<typeof modelConfigSchema>;

export interface AgentConfig {
  /** In the order the file lists them. */
  mcpServers: Record<string, ServerEntry>;
  model?: ModelConfig;
  agent?: z.infer<typeof agentSectionSchema>;
}

export function isHttpEntry(entry: ServerEntry): entry is HttpServerEntry {
  return 'url' in entry;
}

/** Where a server is: its command line, or its URL. */
export function describeEntry(entry: ServerEntry): string {
  return isHttpEntry(entry) ? entry.url : [entry.command, ...entry.args].join(' ');
}

/** The file at `path`, else at FATHOM_AGENT_CONFIG; undefined when neither is given. */
export function loadAgentConfig(path: string, env?: NodeJS.ProcessEnv): AgentConfig;
export function loadAgentConfig(path?: string, env?: NodeJS.ProcessEnv): AgentConfig | undefined;
export function loadAgentConfig(path?: string, env: NodeJS.ProcessEnv = process.env): AgentConfig | undefined {
  const chosen = path ?? env.FATHOM_AGENT_CONFIG;
  if (!chosen) return undefined;
  const file = resolve(chosen);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new FathomError('not_found', `Agent config ${file} cannot be read: ${errorMessage(error)}`, {
      hint: 'Give the path of a JSON file with an "mcpServers" object, or leave it out to use Fathom\'s own servers.',
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw invalid(file, [`not valid JSON: ${errorMessage(error)}`]);
  }
  return parseAgentConfig(json, file, env);
}

/** Validates a parsed config; `file` names it in errors. `${VAR}` and `${VAR:-default}` in server entries are read from `env`. */
export function parseAgentConfig(json: unknown, file: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const top = fileSchema.safeParse(json);
  if (!top.success) throw invalid(file, issueLines(top.error.issues, []));
  const problems: string[] = [];
  const mcpServers: Record<string, ServerEntry> = {};
  for (const [name, raw] of Object.entries(top.data.mcpServers)) {
    const path = ['mcpServers', name];
    if (!('command' in raw) && !('url' in raw)) {
      problems.push(`${path.join('.')}: needs "command" (a stdio server) or "url" (an HTTP server)`);
      continue;
    }
    const parsed = ('url' in raw ? httpEntrySchema : stdioEntrySchema).safeParse(raw);
    if (!parsed.success) {
      problems.push(...issueLines(parsed.error.issues, path));
      continue;
    }
    const expanded = expandEntry(parsed.data, env, path, problems);
    if (isHttpEntry(expanded) && !isHttpUrl(expanded.url)) problems.push(`${path.join('.')}.url: expected an http(s) URL, got ${expanded.url}`);
    mcpServers[name] = expanded;
  }
  const model = modelConfigSchema.optional().safeParse(top.data.model);
  if (!model.success) problems.push(...issueLines(model.error.issues, ['model']));
  const agent = agentSectionSchema.optional().safeParse(top.data.agent);
  if (!agent.success) problems.push(...issueLines(agent.error.issues, ['agent']));
  if (problems.length) throw invalid(file, problems);
  return { mcpServers, ...(model.data ? { model: model.data } : {}), ...(agent.data ? { agent: agent.data } : {}) };
}

function isHttpUrl(value: string): boolean {
  return URL.canParse(value) && ['http:', 'https:'].includes(new URL(value).protocol);
}

function invalid(file: string, problems: string[]): FathomError {
  return new FathomError('invalid_config', `Invalid agent config ${file}:\n${problems.map((line) => `  ${line}`).join('\n')}`, {
    hint: 'Expected { "mcpServers": { "<name>": { "command", "args"?, "env"?, "cwd"? } | { "url", "headers"? } }, "model"?: {...} }.',
    details: { file, problems },
  });
}

function issueLines(issues: readonly z.core.$ZodIssue[], prefix: (string | number)[]): string[] {
  return issues.map((issue) => {
    const path = [...prefix, ...issue.path.map((part) => (typeof part === 'symbol' ? part.toString() : part))];
    return `${path.length ? path.join('.') : '(top level)'}: ${issue.message}`;
  });
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function expandEntry<T extends ServerEntry>(entry: T, env: NodeJS.ProcessEnv, path: string[], problems: string[]): T {
  const expand = (value: string, key: string): string =>
    value.replace(VARIABLE, (whole, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      problems.push(`${[...path, key].join('.')}: ${whole} is not set in the environment`);
      return '';
    });
  const expandRecord = (record: Record<string, string>, key: string) =>
    Object.fromEntries(Object.entries(record).map(([name, value]) => [name, expand(value, `${key}.${name}`)]));
  if (isHttpEntry(entry)) {
    return { ...entry, url: expand(entry.url, 'url'), headers: expandRecord(entry.headers, 'headers') };
  }
  return {
    ...entry,
    command: expand(entry.command, 'command'),
    args: entry.args.map((arg, index) => expand(arg, `args.${index}`)),
    env: expandRecord(entry.env, 'env'),
    ...(entry.cwd === undefined ? {} : { cwd: expand(entry.cwd, 'cwd') }),
  };
}

export type ExtraServer = 'browser' | 'files';

/**
 * Fathom's own servers over stdio, under the names MiroThinker was trained with; for a v1.0 agent
 * config, serving tool listings and results as MiroThinker's v1.0 release did.
 */
export function defaultAgentConfig(options: { fathomBin: string; extras?: ExtraServer[]; release?: string }): AgentConfig {
  const fathom = (...args: string[]): StdioServerEntry => ({ command: process.execPath, args: [options.fathomBin, ...args], env: {} });
  const era = options.release === 'v1.0' ? ['--mirothinker-release', 'v1.0'] : [];
  const mirothinker = (server: string, endpoint: string) => fathom(server, '--profile', 'mirothinker', '--endpoint', endpoint, ...era);
  const mcpServers: Record<string, ServerEntry> = {
    'tool-python': mirothinker('python-sandbox', 'tool-python'),
    search_and_scrape_webpage: mirothinker('search', 'search_and_scrape_webpage'),
    jina_scrape_llm_summary: mirothinker('search', 'jina_scrape_llm_summary'),
  };
  for (const extra of options.extras ?? []) mcpServers[`fathom-${extra}`] = fathom(extra);
  return { mcpServers };
}

/** Provider keys Fathom's servers read; a stdio server gets only the variables it is given. */
const SERVER_VARIABLES = [
  'SERPER_API_KEY',
  'SERPER_BASE_URL',
  'SEARXNG_URL',
  'BRAVE_API_KEY',
  'TAVILY_API_KEY',
  'EXA_API_KEY',
  'JINA_API_KEY',
  'JINA_BASE_URL',
  'SUMMARY_LLM_BASE_URL',
  'SUMMARY_LLM_MODEL_NAME',
  'SUMMARY_LLM_API_KEY',
  'E2B_API_KEY',
];

/** The variables of `env` that Fathom's servers read (FATHOM_* and provider keys), without the agent's model settings. */
export function serverEnvironment(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const fathom = name.startsWith('FATHOM_') && !name.startsWith('FATHOM_MODEL') && name !== 'FATHOM_AGENT_CONFIG';
    if (fathom || SERVER_VARIABLES.includes(name)) picked[name] = value;
  }
  return picked;
}

/** Sampling and length from MiroThinker's llm config (conf/llm/qwen-3.yaml); its client's time limit and attempts. */
export const MODEL_DEFAULTS = {
  ...mirothinkerHarness().llm,
  timeoutSeconds: 600,
  retries: 10,
} as const;

/** The model endpoint and sampling settings: FATHOM_MODEL_BASE_URL, FATHOM_MODEL and FATHOM_MODEL_API_KEY over the file. */
export function modelSettings(config: AgentConfig | undefined, env: NodeJS.ProcessEnv = process.env): ModelSettings {
  const file = config?.model ?? {};
  const baseUrl = env.FATHOM_MODEL_BASE_URL || file.baseUrl;
  const model = env.FATHOM_MODEL || file.model;
  const apiKey = env.FATHOM_MODEL_API_KEY || file.apiKey;
  if (!baseUrl) {
    throw new FathomError('invalid_config', 'No model endpoint: set FATHOM_MODEL_BASE_URL (or "model.baseUrl" in the agent config).', {
      hint: 'An OpenAI-compatible base URL ending in /v1, e.g. http://127.0.0.1:30000/v1 for SGLang or vLLM.',
    });
  }
  if (!isHttpUrl(baseUrl)) {
    const from = env.FATHOM_MODEL_BASE_URL ? 'FATHOM_MODEL_BASE_URL' : 'model.baseUrl';
    throw new FathomError('invalid_config', `${from} is not an http(s) URL: ${baseUrl}`, { hint: 'e.g. http://127.0.0.1:30000/v1' });
  }
  if (!model) {
    throw new FathomError('invalid_config', 'No model name: set FATHOM_MODEL (or "model.model" in the agent config).', {
      hint: 'The id the endpoint serves, e.g. miromind-ai/MiroThinker-v1.5-30B.',
    });
  }
  return {
    baseUrl: baseUrl.replace(/\/+$/, ''),
    model,
    ...(apiKey ? { apiKey } : {}),
    temperature: file.temperature ?? MODEL_DEFAULTS.temperature,
    topP: file.topP ?? MODEL_DEFAULTS.topP,
    maxTokens: file.maxTokens ?? MODEL_DEFAULTS.maxTokens,
    repetitionPenalty: file.repetitionPenalty ?? MODEL_DEFAULTS.repetitionPenalty,
    contextTokens: file.contextTokens ?? MODEL_DEFAULTS.contextTokens,
    timeoutMs: (file.timeoutSeconds ?? MODEL_DEFAULTS.timeoutSeconds) * 1000,
    retries: file.retries ?? MODEL_DEFAULTS.retries,
  };
}

/** Each sampling and length setting in force and where it came from, for --print-agent-config. */
export function modelSettingSources(config: AgentConfig | undefined, env: NodeJS.ProcessEnv = process.env, file = 'the agent config'): { name: string; value: string | number; from: string }[] {
  const model = config?.model ?? {};
  const llm = 'MiroThinker conf/llm/qwen-3.yaml';
  const row = (name: string, key: keyof typeof model, fallback: number | undefined, fallbackFrom: string) => {
    const value = model[key];
    return { name, value: value ?? fallback ?? '', from: value !== undefined ? `model.${key} in ${file}` : fallbackFrom };
  };
  const named = env.FATHOM_MODEL ? { value: env.FATHOM_MODEL, from: 'FATHOM_MODEL' } : model.model ? { value: model.model, from: `model.model in ${file}` } : { value: '(not set)', from: 'set FATHOM_MODEL or --model' };
  return [
    { name: 'model', ...named },
    row('temperature', 'temperature', MODEL_DEFAULTS.temperature, llm),
    row('top_p', 'topP', MODEL_DEFAULTS.topP, llm),
    row('max_tokens', 'maxTokens', MODEL_DEFAULTS.maxTokens, llm),
    row('repetition_penalty', 'repetitionPenalty', MODEL_DEFAULTS.repetitionPenalty, llm),
    row('context tokens', 'contextTokens', MODEL_DEFAULTS.contextTokens, `${llm} (max_context_length)`),
    row('request time limit (s)', 'timeoutSeconds', MODEL_DEFAULTS.timeoutSeconds, 'Fathom default'),
    row('request attempts', 'retries', MODEL_DEFAULTS.retries, "MiroThinker's LLM client"),
  ];
}
