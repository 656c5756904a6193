import { FathomError, errorMessage } from './errors.js';
import type { Logger } from './log.js';
import type { HttpClient } from './net/client.js';
import { sleep } from './net/limiter.js';

/** OpenAI's token counts for one answer. */
export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** One chat completion, streamed or whole. */
export interface ChatAnswer {
  /** The assistant text, a `<think>` block included when the server sends it in the content. */
  content: string;
  /** Reasoning the server sent apart (`reasoning_content`), when it does. */
  reasoning?: string;
  finishReason: string;
  usage?: ChatUsage;
  toolCalls?: ChatToolCall[];
}

export interface ChatResult extends ChatAnswer {
  /** Attempts made, 1 when the first succeeded. */
  attempts: number;
  ms: number;
}

export interface ChatClientOptions {
  /** The OpenAI-compatible root (usually ending in /v1), or the full /chat/completions URL. */
  baseUrl: string;
  apiKey?: string;
  /** Time limit of one attempt (with `http`, that client's own limit when unset). */
  timeoutMs?: number;
  /** Attempts in all when a request fails for a reason worth another try (default 1). */
  attempts?: number;
  /** The failures tried again (default all: network, timeout, http, upstream, a broken answer). */
  retryOn?: readonly ChatFailureKind[];
  /** Wait after failed attempt `attempt` (from 1); a server's Retry-After wins. Default: 2 s doubling, at most 30 s. */
  retryDelayMs?: (attempt: number) => number;
  /** Requests through this client (its guard, retries, limits) instead of fetch; the answer is then read whole. */
  http?: HttpClient;
  fetch?: typeof fetch;
  logger?: Logger;
  /** Added to the message when the server refuses the request as unauthorised; told whether a key was sent. */
  keyHint?: (keySent: boolean) => string;
  /** Added to the message when every attempt failed, e.g. how to start the server. */
  unavailableHint?: string;
}

export interface ChatRequestOptions {
  signal?: AbortSignal;
  /** Content text as it arrives; a retried attempt streams again from its start. */
  onDelta?: (text: string) => void;
  /**
   * Looks at each answer but the last attempt's: a body to ask with instead (using up an
   * attempt), or undefined to take the answer.
   */
  retryWith?: (answer: ChatAnswer, attempt: number) => Record<string, unknown> | undefined;
}

export type ChatFailureKind = 'network' | 'timeout' | 'http' | 'upstream';

/** A failed attempt worth another: the cause of the error thrown once every attempt failed. */
export class ChatFailure extends Error {
  constructor(
    readonly kind: ChatFailureKind,
    message: string,
    readonly retryAfterMs?: number,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ChatFailure';
  }
}

const DEFAULT_BACKOFF_MS = 2_000;
const DEFAULT_MAX_BACKOFF_MS = 30_000;
const MAX_RETRY_AFTER_MS = 120_000;
const QUOTE_LIMIT = 500;
const RETRY_STATUSES = new Set([408, 409, 425, 429]);
const CHAT_COMPLETIONS = '/chat/completions';

/** Doubling waits from `firstMs`, at most `maxMs`. */
export function exponentialBackoff(firstMs = DEFAULT_BACKOFF_MS, maxMs = DEFAULT_MAX_BACKOFF_MS): (attempt: number) => number {
  return (attempt) => Math.min(maxMs, firstMs * 2 ** (attempt - 1));
}

/**
 * Chat completions against an OpenAI-compatible server (SGLang, vLLM, OpenAI and the like): the
 * body is sent as given; an event stream or a JSON body is read into one answer; network failures,
 * time-outs, 408/409/425/429, 5xx and broken answers are tried again; other refusals are typed
 * errors whose message names the endpoint and the fix.
 */
export class ChatClient {
  readonly url: string;
  private readonly root: string;
  private readonly attempts: number;
  private readonly retryDelayMs: (attempt: number) => number;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: ChatClientOptions) {
    const base = options.baseUrl.replace(/\/+$/, '');
    this.url = base.endsWith(CHAT_COMPLETIONS) ? base : `${base}${CHAT_COMPLETIONS}`;
    this.root = this.url.slice(0, -CHAT_COMPLETIONS.length);
    this.attempts = Math.max(1, Math.floor(options.attempts ?? 1));
    this.retryDelayMs = options.retryDelayMs ?? exponentialBackoff();
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  async complete(body: Record<string, unknown>, options: ChatRequestOptions = {}): Promise<ChatResult> {
    const started = Date.now();
    const { attempts, options: settings } = this;
    for (let attempt = 1; ; attempt++) {
      if (options.signal?.aborted) throw cancelled(options.signal);
      const last = attempt >= attempts;
      let answer: ChatAnswer;
      try {
        answer = await this.attempt(body, options);
      } catch (error) {
        if (!(error instanceof ChatFailure)) throw error;
        if (last || !(settings.retryOn?.includes(error.kind) ?? true)) throw this.exhausted(error, attempt);
        const waitMs = error.retryAfterMs ?? this.retryDelayMs(attempt);
        settings.logger?.warn('model request failed, retrying', { attempt, attempts, reason: error.message, waitMs });
        await wait(waitMs, options.signal);
        continue;
      }
      const next = last ? undefined : options.retryWith?.(answer, attempt);
      if (next) {
        body = next;
        continue;
      }
      const result: ChatResult = { ...answer, attempts: attempt, ms: Date.now() - started };
      settings.logger?.debug('model answered', { attempts: attempt, ms: result.ms, finishReason: result.finishReason, usage: result.usage });
      return result;
    }
  }

  /** One request under its own time limit; failures worth another try come out as `ChatFailure`. */
  private async attempt(body: Record<string, unknown>, options: ChatRequestOptions): Promise<ChatAnswer> {
    const { timeoutMs } = this.options;
    const controller = new AbortController();
    let timedOut = false;
    const timer =
      timeoutMs === undefined || this.options.http
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, timeoutMs);
    const onAbort = () => controller.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await this.exchange(body, controller.signal, options.onDelta);
    } catch (error) {
      if (options.signal?.aborted) throw cancelled(options.signal);
      if (timedOut) throw new ChatFailure('timeout', `no complete answer within ${timeoutMs} ms`);
      if (error instanceof ChatFailure || error instanceof FathomError) throw error;
      throw new ChatFailure('network', networkFailureReason(error));
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  private headers(stream: boolean): Record<string, string> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: stream ? 'text/event-stream, application/json' : 'application/json' };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    return headers;
  }

  private async exchange(body: Record<string, unknown>, signal: AbortSignal, onDelta: ChatRequestOptions['onDelta']): Promise<ChatAnswer> {
    const headers = this.headers(body.stream === true);
    const json = JSON.stringify(body);
    const answer = new AnswerBuilder(onDelta);
    const { http } = this.options;
    if (http) {
      const response = await http.request(this.url, { method: 'POST', headers, body: json, signal, ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}) });
      const text = response.text();
      if (response.status >= 400) throw this.httpError(response.status, '', text, response.headers['retry-after'] ?? null, body);
      readWhole(text, answer);
    } else {
      const response = await this.fetch(this.url, { method: 'POST', headers, body: json, signal });
      if (!response.ok) {
        const text = await response.text().catch(() => '');
        throw this.httpError(response.status, response.statusText, text, response.headers.get('retry-after'), body);
      }
      if (response.body && (response.headers.get('content-type') ?? '').includes('text/event-stream')) {
        const events = new EventParser();
        await readEvents(response.body, events, (data) => answer.event(data));
      } else readWhole(await response.text(), answer);
    }
    if (!answer.done && answer.finishReason === undefined) {
      throw new ChatFailure('network', 'the stream ended before the answer was complete');
    }
    return answer.answer();
  }

  private httpError(status: number, statusText: string, text: string, retryAfter: string | null, body: Record<string, unknown>): Error {
    const message = endpointErrorMessage(text) || statusText || 'no message';
    const details = { url: this.url, status, message };
    if (status >= 500 || RETRY_STATUSES.has(status)) return new ChatFailure('http', `HTTP ${status}: ${message}`, retryAfterMs(retryAfter), status);
    if (status === 401 || status === 403) {
      const hint = this.options.keyHint ? ` ${this.options.keyHint(Boolean(this.options.apiKey))}` : '';
      return new FathomError('forbidden', `The model endpoint ${this.url} refused the request (HTTP ${status}): ${message}.${hint}`, { details });
    }
    if (status === 404) {
      return new FathomError(
        'not_found',
        `The model endpoint ${this.url} answered 404 for model "${String(body.model)}": ${message}. Check the model id ` +
          `(GET ${this.root}/models lists the served ones) and that the base URL ${this.options.baseUrl} is the server's OpenAI-compatible /v1 root.`,
        { details },
      );
    }
    if (status === 413) {
      return new FathomError('too_large', `The model endpoint ${this.url} refused the request as too large (HTTP 413): ${message}`, { details });
    }
    return new FathomError('invalid_argument', `The model endpoint ${this.url} rejected the request (HTTP ${status}): ${message}`, { details });
  }

  private exhausted(failure: ChatFailure, attempts: number): FathomError {
    const tries = `${attempts} attempt${attempts === 1 ? '' : 's'}`;
    const hint = this.options.unavailableHint ? `. ${this.options.unavailableHint}` : '';
    return new FathomError(failure.kind === 'timeout' ? 'timeout' : 'unavailable', `The model endpoint ${this.url} did not answer after ${tries}: ${failure.message}${hint}`, {
      cause: failure,
      details: { url: this.url, attempts, ...(failure.status === undefined ? {} : { status: failure.status }) },
    });
  }
}

async function wait(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, signal);
  } catch {
    throw cancelled(signal);
  }
}

function cancelled(signal: AbortSignal | undefined): FathomError {
  return new FathomError('cancelled', 'The model request was cancelled.', { cause: signal?.reason });
}

/** A network error with the system's reason (`fetch failed (connect ECONNREFUSED ...)`). */
export function networkFailureReason(error: unknown): string {
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

/** The message of an OpenAI (`{error: {message}}`), vLLM/SGLang (`{message}`) or FastAPI (`{detail}`) error body, else the text. */
export function endpointErrorMessage(text: string): string {
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
    throw new ChatFailure('upstream', `${what} was not valid JSON: ${quote(text)}`);
  }
}

/** A body read whole: one JSON answer, or an event stream sent without its content type. */
function readWhole(text: string, answer: AnswerBuilder): void {
  const start = text.trimStart();
  if (start.startsWith('{')) answer.addMessage(parseJson(text, 'the answer'));
  else if (start.startsWith('data:') || start.startsWith(':')) {
    const events = new EventParser();
    for (const data of [...events.push(text), ...events.end()]) if (!answer.event(data)) break;
  } else throw new ChatFailure('upstream', `the answer was neither JSON nor an event stream: ${quote(text)}`);
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
  usage?: Partial<ChatUsage> | null;
  error?: unknown;
}

/** An answer assembled from stream chunks or from one JSON body. */
class AnswerBuilder {
  content = '';
  reasoning = '';
  finishReason: string | undefined;
  usage: ChatUsage | undefined;
  done = false;
  private readonly calls = new Map<number, ChatToolCall>();

  constructor(private readonly onDelta?: (text: string) => void) {}

  /** One event's data; false once the stream says it is done. */
  event(data: string): boolean {
    if (data === '[DONE]') {
      this.done = true;
      return false;
    }
    this.addChunk(parseJson(data, 'a stream chunk'));
    return true;
  }

  addChunk(chunk: WireAnswer): void {
    if (chunk.error !== undefined && chunk.error !== null) {
      throw new ChatFailure('upstream', `the server reported an error mid-stream: ${endpointErrorMessage(JSON.stringify(chunk))}`);
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
      throw new ChatFailure('upstream', `the server reported an error: ${endpointErrorMessage(JSON.stringify(body))}`);
    }
    const choice = body.choices?.[0];
    if (!choice) throw new ChatFailure('upstream', `the answer has no choices[0].message.content: ${quote(JSON.stringify(body))}`);
    this.usage = usageOf(body.usage);
    if (choice.message) this.add(choice.message);
    this.finishReason = choice.finish_reason ?? 'stop';
    this.done = true;
  }

  answer(): ChatAnswer {
    const toolCalls = [...this.calls.entries()].sort(([a], [b]) => a - b).map(([, call]) => call);
    return {
      content: this.content,
      ...(this.reasoning ? { reasoning: this.reasoning } : {}),
      finishReason: this.finishReason ?? 'stop',
      ...(this.usage ? { usage: this.usage } : {}),
      ...(toolCalls.length > 0 ? { toolCalls } : {}),
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

function usageOf(value: Partial<ChatUsage> | null | undefined): ChatUsage | undefined {
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
async function readEvents(body: NonNullable<Response['body']>, parser: EventParser, onEvent: (data: string) => boolean): Promise<void> {
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
