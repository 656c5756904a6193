import { ChatClient, FathomError, endpointErrorMessage, exponentialBackoff, networkFailureReason, repeatsItself } from '@fathom/core';
import type { Logger } from '@fathom/core';
import type { ChatMessage, Completion, ModelSettings, Usage } from './types.js';

export interface ModelClientOptions {
  logger: Logger;
  fetch?: typeof fetch;
  /** First wait between failed attempts; doubles on each failure (default 2 s). */
  backoffMs?: number;
  /** Longest wait between failed attempts (default 30 s). */
  maxBackoffMs?: number;
}

export interface CompleteOptions {
  /** OpenAI function tools (openai-tools protocol only; MiroThinker's own protocol sends none). */
  tools?: object[];
  /** Overrides settings.maxTokens for this request. */
  maxTokens?: number;
  signal?: AbortSignal;
  /** Content text as it arrives; a retried attempt streams again from its start. */
  onDelta?: (text: string) => void;
}

const DEFAULT_BACKOFF_MS = 2_000;
const DEFAULT_MAX_BACKOFF_MS = 30_000;
const LENGTH_GROWTH = 1.1;
/**
 * MiroThinker's model calls on core's chat client: streamed, with its sampling settings, an answer
 * cut at max_tokens asked again with 10% more, and a looping answer asked again.
 */
export class ModelClient {
  readonly url: string;
  private readonly logger: Logger;
  private readonly chat: ChatClient;

  constructor(
    private readonly settings: ModelSettings,
    options: ModelClientOptions,
  ) {
    this.logger = options.logger;
    this.chat = new ChatClient({
      baseUrl: settings.baseUrl,
      ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
      timeoutMs: settings.timeoutMs,
      attempts: settings.retries,
      retryDelayMs: exponentialBackoff(options.backoffMs ?? DEFAULT_BACKOFF_MS, options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      logger: options.logger,
      keyHint: (sent) =>
        sent ? 'Check FATHOM_MODEL_API_KEY: the server did not accept the key sent.' : 'No API key was sent: set FATHOM_MODEL_API_KEY to the key the server expects.',
      unavailableHint: `Check that the model server (SGLang or vLLM) is running and serves "${settings.model}" at ${settings.baseUrl}.`,
    });
    this.url = this.chat.url;
  }

  async complete(messages: ChatMessage[], options: CompleteOptions = {}): Promise<Completion> {
    let maxTokens = options.maxTokens ?? this.settings.maxTokens;
    const attempts = Math.max(1, Math.floor(this.settings.retries));
    return this.chat.complete(this.requestBody(messages, maxTokens, options.tools), {
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onDelta ? { onDelta: options.onDelta } : {}),
      retryWith: (answer, attempt) => {
        if (answer.finishReason === 'length') {
          const next = this.grownMaxTokens(maxTokens, answer.usage);
          if (next <= maxTokens) return undefined;
          this.logger.warn('model answer cut at max_tokens, retrying with more', { attempt, attempts, maxTokens: next });
          maxTokens = next;
          return this.requestBody(messages, maxTokens, options.tools);
        }
        if (!repeatsItself(answer.content)) return undefined;
        this.logger.warn('model answer repeats itself, retrying', { attempt, attempts });
        return this.requestBody(messages, maxTokens, options.tools);
      },
    });
  }

  private requestBody(messages: ChatMessage[], maxTokens: number, tools: object[] | undefined): Record<string, unknown> {
    const { model, temperature, topP, repetitionPenalty } = this.settings;
    return {
      model,
      messages,
      temperature,
      top_p: topP,
      max_tokens: maxTokens,
      // Left out at its neutral value, as MiroThinker does: servers other than SGLang/vLLM refuse it.
      ...(repetitionPenalty === 1 ? {} : { repetition_penalty: repetitionPenalty }),
      stream: true,
      stream_options: { include_usage: true },
      ...(tools ? { tools } : {}),
      // A last assistant message is a prefix to continue (MiroThinker's failure summary), as SGLang and vLLM read it.
      ...(messages.at(-1)?.role === 'assistant' ? { continue_final_message: true, add_generation_prompt: false } : {}),
    };
  }

  /** MiroThinker's 10% raise, kept within the context window the last answer's usage leaves. */
  private grownMaxTokens(maxTokens: number, usage: Usage | undefined): number {
    const grown = Math.max(maxTokens + 1, Math.floor(maxTokens * LENGTH_GROWTH));
    if (!usage?.prompt_tokens || !(this.settings.contextTokens > 0)) return grown;
    return Math.min(grown, this.settings.contextTokens - usage.prompt_tokens);
  }
}

export interface ModelEndpoint {
  /** OpenAI-compatible base URL ending in /v1. */
  baseUrl: string;
  apiKey?: string;
  /** The model to run; undefined to take the one the endpoint serves. */
  model?: string;
}

export interface EndpointCheck {
  /** The model to run: the one asked for, or the only one served. */
  model: string;
  /** The ids GET /models listed (empty when it could not say). */
  served: string[];
  /** True when no model was asked for and the endpoint's only one was taken. */
  chosen: boolean;
  /** Set when the endpoint answered but could not list its models (busy, 5xx): the run goes on, with retries. */
  warning?: string;
}

const CHECK_TIMEOUT_MS = 10_000;
const LISTED_MODELS = 20;

/**
 * One GET {baseUrl}/models before any work: a refused connection, an unknown host or a wrong URL
 * fails here in seconds, with the fix, rather than after a request's retries. A server that
 * answers but is busy or failing (429, 5xx, no answer in time) is left to those retries.
 */
export async function checkModelEndpoint(endpoint: ModelEndpoint, options: { fetch?: typeof fetch; timeoutMs?: number } = {}): Promise<EndpointCheck> {
  const baseUrl = endpoint.baseUrl.replace(/\/+$/, '');
  const url = `${baseUrl}/models`;
  const timeoutMs = options.timeoutMs ?? CHECK_TIMEOUT_MS;
  const headers: Record<string, string> = { accept: 'application/json', ...(endpoint.apiKey ? { authorization: `Bearer ${endpoint.apiKey}` } : {}) };
  const start = 'Start the model server (e.g. SGLang: python -m sglang.launch_server --model-path <model> --port 30000, or vLLM: vllm serve <model> --port 30000)';
  const fix = `${start}, or point --base-url (FATHOM_MODEL_BASE_URL) at the server's OpenAI-compatible root, e.g. http://127.0.0.1:30000/v1.`;
  const unlisted = (warning: string): EndpointCheck => {
    if (endpoint.model === undefined) {
      throw new FathomError('unavailable', `${warning}, so the model to run cannot be chosen from it.`, { hint: 'Set --model (FATHOM_MODEL) to the id the server serves.', details: { url } });
    }
    return { model: endpoint.model, served: [], chosen: false, warning };
  };

  let response: Response;
  try {
    response = await (options.fetch ?? globalThis.fetch)(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') return unlisted(`The model endpoint ${url} did not answer within ${timeoutMs / 1000} s`);
    const code = (error as { cause?: { code?: unknown } }).cause?.code;
    const host = URL.canParse(baseUrl) ? new URL(baseUrl).host : baseUrl;
    const why =
      code === 'ECONNREFUSED'
        ? `nothing is listening at ${host} (connection refused)`
        : code === 'ENOTFOUND' || code === 'EAI_AGAIN'
          ? `the host name in ${baseUrl} does not resolve`
          : networkFailureReason(error);
    throw new FathomError('unavailable', `The model endpoint cannot be reached: ${why} (GET ${url}).`, { hint: fix, details: { url, ...(typeof code === 'string' ? { code } : {}) } });
  }
  const text = await response.text().catch(() => '');
  if (response.status === 429 || response.status >= 500) return unlisted(`The model endpoint ${url} answered HTTP ${response.status} (${endpointErrorMessage(text) || 'no message'})`);
  if (response.status === 401 || response.status === 403) {
    const key = endpoint.apiKey ? 'Check FATHOM_MODEL_API_KEY: the server did not accept the key sent.' : 'No API key was sent: set FATHOM_MODEL_API_KEY to the key the server expects.';
    throw new FathomError('forbidden', `The model endpoint ${url} refused the request (HTTP ${response.status}): ${endpointErrorMessage(text) || 'no message'}.`, { hint: key, details: { url } });
  }
  const rootHint = baseUrl.endsWith('/v1') ? `Check the base URL ${baseUrl}: it must be the root that serves /chat/completions and /models.` : `The base URL must be the OpenAI-compatible root, which usually ends in /v1: try ${baseUrl}/v1.`;
  if (!response.ok) {
    throw new FathomError('not_found', `The model endpoint ${url} answered HTTP ${response.status}: this is not an OpenAI-compatible endpoint.`, { hint: rootHint, details: { url, status: response.status } });
  }
  let served: string[] | undefined;
  try {
    const body = JSON.parse(text) as { data?: unknown };
    if (Array.isArray(body.data)) served = body.data.flatMap((item: { id?: unknown }) => (typeof item?.id === 'string' ? [item.id] : []));
  } catch {
    // not JSON: said below
  }
  if (!served) {
    throw new FathomError('not_found', `GET ${url} did not answer with a model list (${text.trim().slice(0, 120) || 'an empty body'}): this is not an OpenAI-compatible endpoint.`, { hint: rootHint, details: { url } });
  }
  const list = served.slice(0, LISTED_MODELS).join(', ') + (served.length > LISTED_MODELS ? `, and ${served.length - LISTED_MODELS} more` : '');
  if (endpoint.model !== undefined) {
    if (served.length && !served.includes(endpoint.model)) {
      throw new FathomError('not_found', `The model endpoint ${baseUrl} does not serve "${endpoint.model}"; it serves: ${list}.`, { hint: 'Set --model (FATHOM_MODEL) to one of those ids.', details: { url, served } });
    }
    return { model: endpoint.model, served, chosen: false };
  }
  if (served.length === 1) return { model: served[0]!, served, chosen: true };
  if (!served.length) throw new FathomError('not_found', `The model endpoint ${baseUrl} serves no model (GET ${url} listed none).`, { hint: `${start}, with the model loaded.`, details: { url } });
  throw new FathomError('invalid_config', `No model chosen, and ${baseUrl} serves ${served.length}: ${list}.`, { hint: 'Set --model (FATHOM_MODEL) to one of them.', details: { url, served } });
}
