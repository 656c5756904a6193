import { FathomError, errorMessage, sleep } from '@fathom/core';
import type { Logger } from '@fathom/core';
import type { ChatMessage, ChatToolCall, Completion, ModelSettings, Usage } from './types.js';

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
const MAX_RETRY_AFTER_MS = 120_000;
const LENGTH_GROWTH = 1.1;
const REPEAT_TAIL_CHARS = 50;
const REPEAT_LIMIT = 5;
const QUOTE_LIMIT = 500;
const RETRY_STATUSES = new Set([408, 409, 425, 429]);

/**
 * True when the last 50 characters occur more than 5 times (non-overlapping) in the text:
 * MiroThinker's test for a model stuck in a loop.
 */
export function isDegenerate(text: string): boolean {
  const chars = Array.from(text);
  if (chars.length < REPEAT_TAIL_CHARS) return false;
  const tail = chars.slice(-REPEAT_TAIL_CHARS).join('');
  let count = 0;
  for (let at = text.indexOf(tail); at >= 0; at = text.indexOf(tail, at + tail.length)) {
    if (++count > REPEAT_LIMIT) return true;
  }
  return false;
}

/** Chat completions against an OpenAI-compatible server (SGLang, vLLM), streamed, with retries. */
export class ModelClient {
  readonly url: string;
  private readonly logger: Logger;
  private readonly fetch: typeof fetch;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;

  constructor(
    private readonly settings: ModelSettings,
    options: ModelClientOptions,
  ) {
    this.url = `${settings.baseUrl.replace(/\/+$/, '')}/chat/completions`;
    this.logger = options.logger;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.maxBackoffMs = options.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
  }

  async complete(messages: ChatMessage[], options: CompleteOptions = {}): Promise<Completion> {
    const started = Date.now();
    const attempts = Math.max(1, Math.floor(this.settings.retries));
    let maxTokens = options.maxTokens ?? this.settings.maxTokens;

    for (let attempt = 1; ; attempt++) {
      if (options.signal?.aborted) throw cancelled(options.signal);
      const last = attempt >= attempts;
      let answer: Answer;
      try {
        answer = await this.attempt(this.requestBody(messages, maxTokens, options.tools), options);
      } catch (error) {
        if (!(error instanceof Retryable)) throw error;
        if (last) throw this.exhausted(error, attempt);
        const waitMs = error.retryAfterMs ?? Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (attempt - 1));
        this.logger.warn('model request failed, retrying', { attempt, attempts, reason: error.message, waitMs });
        await this.wait(waitMs, options.signal);
        continue;
      }

      const completion = answer.completion(attempt, Date.now() - started);
      if (!last && completion.finishReason === 'length') {
        const next = this.grownMaxTokens(maxTokens, completion.usage);
        if (next > maxTokens) {
          this.logger.warn('model answer cut at max_tokens, retrying with more', { attempt, attempts, maxTokens: next });
          maxTokens = next;
          continue;
        }
      } else if (!last && isDegenerate(completion.content)) {
        this.logger.warn('model answer repeats itself, retrying', { attempt, attempts });
        continue;
      }
      this.logger.debug('model answered', { attempts: attempt, ms: completion.ms, finishReason: completion.finishReason, usage: completion.usage });
      return completion;
    }
  }

  private requestBody(messages: ChatMessage[], maxTokens: number, tools: object[] | undefined): string {
    const { model, temperature, topP, repetitionPenalty } = this.settings;
    return JSON.stringify({
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
    });
  }

  /** One request under its own time limit; transient failures come out as `Retryable`. */
  private async attempt(body: string, options: CompleteOptions): Promise<Answer> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.settings.timeoutMs);
    const onAbort = () => controller.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.exchange(body, controller.signal, options.onDelta);
    } catch (error) {
      if (options.signal?.aborted) throw cancelled(options.signal);
      if (timedOut) throw new Retryable('timeout', `no complete answer within ${this.settings.timeoutMs} ms`);
      if (error instanceof Retryable || error instanceof FathomError) throw error;
      throw new Retryable('network', networkReason(error));
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async exchange(body: string, signal: AbortSignal, onDelta: CompleteOptions['onDelta']): Promise<Answer> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'text/event-stream, application/json',
    };
    if (this.settings.apiKey) headers.authorization = `Bearer ${this.settings.apiKey}`;
    const response = await this.fetch(this.url, { method: 'POST', headers, body, signal });
    if (!response.ok) throw await this.httpError(response);

    const answer = new Answer(onDelta);
    const events = new EventParser();
    const onEvent = (data: string): boolean => {
      if (data === '[DONE]') {
        answer.done = true;
        return false;
      }
      answer.addChunk(parseJson(data, 'a stream chunk'));
      return true;
    };

    if (response.body && (response.headers.get('content-type') ?? '').includes('text/event-stream')) {
      await readEvents(response.body, events, onEvent);
    } else {
      const text = await response.text();
      const start = text.trimStart();
      if (start.startsWith('{')) answer.addMessage(parseJson(text, 'the answer'));
      else if (start.startsWith('data:') || start.startsWith(':')) {
        for (const data of [...events.push(text), ...events.end()]) if (!onEvent(data)) break;
      } else throw new Retryable('upstream', `the answer was neither JSON nor an event stream: ${quote(text)}`);
    }
    if (!answer.done && answer.finishReason === undefined) {
      throw new Retryable('network', 'the stream ended before the answer was complete');
    }
    return answer;
  }

  private async httpError(response: Response): Promise<Error> {
    const { status } = response;
    const text = await response.text().catch(() => '');
    const message = serverMessage(text) || response.statusText || 'no message';
    const { baseUrl, model } = this.settings;
    const details = { url: this.url, status };

    if (status >= 500 || RETRY_STATUSES.has(status)) {
      return new Retryable('http', `HTTP ${status}: ${message}`, retryAfterMs(response.headers.get('retry-after')));
    }
    if (status === 401 || status === 403) {
      const key = this.settings.apiKey
        ? 'Check FATHOM_MODEL_API_KEY: the server did not accept the key sent.'
        : 'No API key was sent: set FATHOM_MODEL_API_KEY to the key the server expects.';
      return new FathomError('forbidden', `The model endpoint ${this.url} refused the request (HTTP ${status}): ${message}. ${key}`, { details });
    }
    if (status === 404) {
      return new FathomError(
        'not_found',
        `The model endpoint ${this.url} answered 404 for model "${model}": ${message}. Check the model id ` +
          `(GET ${baseUrl.replace(/\/+$/, '')}/models lists the served ones) and that the base URL ${baseUrl} is the server's OpenAI-compatible /v1 root.`,
        { details },
      );
    }
    if (status === 413) {
      return new FathomError('too_large', `The model endpoint ${this.url} refused the request as too large (HTTP 413): ${message}`, { details });
    }
    return new FathomError('invalid_argument', `The model endpoint ${this.url} rejected the request (HTTP ${status}): ${message}`, { details });
  }

  /** MiroThinker's 10% raise, kept within the context window the last answer's usage leaves. */
  private grownMaxTokens(maxTokens: number, usage: Usage | undefined): number {
    const grown = Math.max(maxTokens + 1, Math.floor(maxTokens * LENGTH_GROWTH));
    if (!usage?.prompt_tokens || !(this.settings.contextTokens > 0)) return grown;
    return Math.min(grown, this.settings.contextTokens - usage.prompt_tokens);
  }

  private exhausted(failure: Retryable, attempts: number): FathomError {
    const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
    return new FathomError(
      failure.kind === 'timeout' ? 'timeout' : 'unavailable',
      `The model endpoint ${this.url} did not answer after ${tries}: ${failure.message}. ` +
        `Check that the model server (SGLang or vLLM) is running and serves "${this.settings.model}" at ${this.settings.baseUrl}.`,
      { cause: failure, details: { url: this.url, attempts } },
    );
  }

  private async wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
    try {
      await sleep(ms, signal);
    } catch {
      throw cancelled(signal);
    }
  }
}

type FailureKind = 'network' | 'timeout' | 'http' | 'upstream';

/** A failure worth another attempt. */
class Retryable extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'Retryable';
  }
}

function cancelled(signal: AbortSignal | undefined): FathomError {
  return new FathomError('cancelled', 'The model request was cancelled.', { cause: signal?.reason });
}

function networkReason(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause === undefined) return errorMessage(error);
  const code = (cause as { code?: unknown }).code;
  const detail = errorMessage(cause) || (typeof code === 'string' ? code : '');
  return detail ? `${errorMessage(error)} (${detail})` : errorMessage(error);
}

function retryAfterMs(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
  return Number.isNaN(ms) ? undefined : Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

function quote(text: string): string {
  return text.length > QUOTE_LIMIT ? `${text.slice(0, QUOTE_LIMIT)}...` : text;
}

/** The message of an OpenAI (`{error: {message}}`), vLLM/SGLang (`{message}`) or FastAPI (`{detail}`) error body. */
function serverMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown; detail?: unknown };
    const error = body.error as { message?: unknown } | string | undefined;
    const found = typeof error === 'string' ? error : (error?.message ?? body.message ?? body.detail);
    if (typeof found === 'string') return quote(found);
    if (found !== undefined) return quote(JSON.stringify(found));
  } catch {
    // Not JSON: quote the text itself.
  }
  return quote(text.trim());
}

function parseJson(text: string, what: string): WireAnswer {
  try {
    return JSON.parse(text) as WireAnswer;
  } catch {
    throw new Retryable('upstream', `${what} was not valid JSON: ${quote(text)}`);
  }
}

interface WireToolCall {
  index?: number;
  id?: string;
  function?: { name?: string; arguments?: unknown };
}

interface WireMessage {
  content?: string | null;
  reasoning_content?: string | null;
  reasoning?: string | null;
  tool_calls?: WireToolCall[] | null;
}

interface WireAnswer {
  choices?: Array<{ delta?: WireMessage; message?: WireMessage; finish_reason?: string | null }>;
  usage?: Partial<Usage> | null;
  error?: unknown;
}

/** An answer assembled from stream chunks or from one JSON body. */
class Answer {
  content = '';
  reasoning = '';
  finishReason: string | undefined;
  usage: Usage | undefined;
  done = false;
  private readonly calls = new Map<number, ChatToolCall>();

  constructor(private readonly onDelta?: (text: string) => void) {}

  addChunk(chunk: WireAnswer): void {
    if (chunk.error !== undefined && chunk.error !== null) {
      throw new Retryable('upstream', `the server reported an error mid-stream: ${serverMessage(JSON.stringify(chunk))}`);
    }
    this.usage = usageOf(chunk.usage) ?? this.usage;
    const choice = chunk.choices?.[0];
    if (!choice) return;
    if (choice.delta) this.add(choice.delta);
    if (choice.finish_reason) this.finishReason = choice.finish_reason;
  }

  /** A non-streaming `chat.completion` body. */
  addMessage(body: WireAnswer): void {
    if (body.error !== undefined && body.error !== null) {
      throw new Retryable('upstream', `the server reported an error: ${serverMessage(JSON.stringify(body))}`);
    }
    const choice = body.choices?.[0];
    if (!choice) throw new Retryable('upstream', `the answer held no choices: ${quote(JSON.stringify(body))}`);
    this.usage = usageOf(body.usage);
    if (choice.message) this.add(choice.message);
    this.finishReason = choice.finish_reason ?? 'stop';
    this.done = true;
  }

  completion(attempts: number, ms: number): Completion {
    const toolCalls = [...this.calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
    return {
      content: this.content,
      ...(this.reasoning ? { reasoning: this.reasoning } : {}),
      finishReason: this.finishReason ?? 'stop',
      ...(this.usage ? { usage: this.usage } : {}),
      ...(toolCalls.length > 0 ? { toolCalls } : {}),
      attempts,
      ms,
    };
  }

  private add(part: WireMessage): void {
    if (typeof part.content === 'string' && part.content) {
      this.content += part.content;
      this.onDelta?.(part.content);
    }
    const reasoning = part.reasoning_content ?? part.reasoning;
    if (typeof reasoning === 'string') this.reasoning += reasoning;
    for (const [position, delta] of (part.tool_calls ?? []).entries()) {
      const index = typeof delta.index === 'number' ? delta.index : position;
      let call = this.calls.get(index);
      if (!call) {
        call = { id: `call_${index}`, type: 'function', function: { name: '', arguments: '' } };
        this.calls.set(index, call);
      }
      if (delta.id) call.id = delta.id;
      const { name, arguments: args } = delta.function ?? {};
      if (name) call.function.name = name;
      if (typeof args === 'string') call.function.arguments += args;
      else if (args !== undefined && args !== null) call.function.arguments += JSON.stringify(args);
    }
  }
}

function usageOf(value: Partial<Usage> | null | undefined): Usage | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const prompt = typeof value.prompt_tokens === 'number' ? value.prompt_tokens : 0;
  const completion = typeof value.completion_tokens === 'number' ? value.completion_tokens : 0;
  const total = typeof value.total_tokens === 'number' ? value.total_tokens : prompt + completion;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: total };
}

/** Server-sent events: turns text, in pieces of any size, into each event's data. */
class EventParser {
  private buffer = '';
  private data: string[] = [];

  push(text: string): string[] {
    this.buffer += text;
    const events: string[] = [];
    let start = 0;
    for (let end = this.buffer.indexOf('\n'); end >= 0; end = this.buffer.indexOf('\n', start)) {
      this.line(this.buffer.slice(start, end), events);
      start = end + 1;
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  end(): string[] {
    const events: string[] = [];
    if (this.buffer) this.line(this.buffer, events);
    this.buffer = '';
    this.dispatch(events);
    return events;
  }

  private line(raw: string, events: string[]): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') return this.dispatch(events);
    const colon = line.indexOf(':');
    if (colon === 0) return;
    const field = colon < 0 ? line : line.slice(0, colon);
    if (field !== 'data') return;
    const value = colon < 0 ? '' : line.slice(colon + 1);
    this.data.push(value.startsWith(' ') ? value.slice(1) : value);
  }

  private dispatch(events: string[]): void {
    if (this.data.length === 0) return;
    events.push(this.data.join('\n'));
    this.data = [];
  }
}

/** Feeds the body's events to `onEvent` until it returns false or the body ends. */
async function readEvents(
  body: NonNullable<Response['body']>,
  parser: EventParser,
  onEvent: (data: string) => boolean,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      const events = done ? [...parser.push(decoder.decode()), ...parser.end()] : parser.push(decoder.decode(value, { stream: true }));
      for (const data of events) if (!onEvent(data)) return;
      if (done) return;
    }
  } finally {
    reader.cancel().catch(() => undefined);
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
          : networkReason(error);
    throw new FathomError('unavailable', `The model endpoint cannot be reached: ${why} (GET ${url}).`, { hint: fix, details: { url, ...(typeof code === 'string' ? { code } : {}) } });
  }
  const text = await response.text().catch(() => '');
  if (response.status === 429 || response.status >= 500) return unlisted(`The model endpoint ${url} answered HTTP ${response.status} (${serverMessage(text) || 'no message'})`);
  if (response.status === 401 || response.status === 403) {
    const key = endpoint.apiKey ? 'Check FATHOM_MODEL_API_KEY: the server did not accept the key sent.' : 'No API key was sent: set FATHOM_MODEL_API_KEY to the key the server expects.';
    throw new FathomError('forbidden', `The model endpoint ${url} refused the request (HTTP ${response.status}): ${serverMessage(text) || 'no message'}.`, { hint: key, details: { url } });
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
    throw new FathomError('not_found', `GET ${url} did not answer with a model list (${quote(text.trim()).slice(0, 120) || 'an empty body'}): this is not an OpenAI-compatible endpoint.`, { hint: rootHint, details: { url } });
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
