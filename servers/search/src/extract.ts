import { ChatClient, FathomError, HttpClient, errorMessage, mirothinkerPrompts, repeatsItself, stripThinking } from '@fathom/core';
import type { ChatAnswer, Logger } from '@fathom/core';
import { bestPassages } from './bm25.js';
import type { BestPassage } from './bm25.js';
import type { Config } from './config.js';

export interface Extraction {
  text: string;
  method: 'llm' | 'passages';
  /** The model's name, or a description such as 'none (BM25 passages)'. */
  model: string;
  tokensUsed: number;
  /** What the caller should know: the model failed and why, or its answer was cut short. */
  note?: string;
  /** Length of the content given. */
  contentChars: number;
  /** Whether the model saw only the beginning of the content. */
  truncated: boolean;
}

export interface ExtractOptions {
  /** Passages mode: the most text returned. Default 8,000. */
  maxChars?: number;
  signal?: AbortSignal;
}

export interface ExtractorOptions {
  config: Config;
  logger: Logger;
  http?: HttpClient;
}

/** MiroThinker hands the model at most this many characters of a page. */
export const MAX_CONTENT_CHARS = 409_600;
/** MiroThinker's answer limit for the extraction call. */
export const MAX_ANSWER_TOKENS = 8192;
export const PASSAGES_MODEL = 'none (BM25 passages)';

const DEFAULT_MAX_CHARS = 8000;
/** On a context overflow, MiroThinker drops this many more characters from the end each attempt. */
const TAIL_CUT_STEP = 40_960;
const TRUNCATION_MARK = '[...truncated]';
const MAX_ATTEMPTS = 4;
const CONTEXT_OVERFLOW =
  /maximum context length|longer than the model's context length|context length exceeded|context_length_exceeded|exceeds the available context size/i;

interface Answer {
  text: string;
  tokensUsed: number;
  cutShort: boolean;
  tailCut: boolean;
}

/**
 * Extracts what a question asks from page content: with the configured OpenAI-compatible model
 * and MiroThinker's extraction prompt, else (or when the model fails) the page's BM25 best passages.
 */
export class Extractor {
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly http: HttpClient;
  private readonly ownsHttp: boolean;
  private chat: ChatClient | undefined;

  constructor(options: ExtractorOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.ownsHttp = !options.http;
    this.http = options.http ?? new HttpClient({ allowPrivateNetwork: true, timeoutMs: 120_000, retries: 2, logger: options.logger });
  }

  /** Closes the HTTP client it created (a client passed in is left to its owner). */
  async close(): Promise<void> {
    if (this.ownsHttp) await this.http.close();
  }

  get model(): string | undefined {
    const { summaryLlmBaseUrl, summaryLlmModelName } = this.config;
    return summaryLlmBaseUrl && summaryLlmModelName ? summaryLlmModelName : undefined;
  }

  async extract(content: string, question: string, options: ExtractOptions = {}): Promise<Extraction> {
    const maxChars = options.maxChars ?? DEFAULT_MAX_CHARS;
    const model = this.model;
    if (!content.trim()) {
      return { text: '', method: 'passages', model: model ?? PASSAGES_MODEL, tokensUsed: 0, note: 'The content is empty: there was nothing to extract from.', contentChars: content.length, truncated: false };
    }
    if (!model) return passages(content, question, maxChars, 'no extraction model is configured');

    const shown = cutChars(content, MAX_CONTENT_CHARS);
    try {
      const answer = await this.ask(model, shown, question, options.signal);
      return {
        text: answer.text,
        method: 'llm',
        model,
        tokensUsed: answer.tokensUsed,
        ...(answer.cutShort ? { note: `The model's answer was cut short (it reached its ${MAX_ANSWER_TOKENS}-token output limit or began repeating itself) and may be incomplete.` } : {}),
        contentChars: content.length,
        truncated: shown.length < content.length || answer.tailCut,
      };
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const reason = errorMessage(error);
      this.logger.warn('extraction model failed; answering with BM25 passages', { model, error: reason });
      return {
        ...passages(content, question, maxChars, 'the extraction model failed'),
        note: `The extraction model (${model}) failed: ${reason}. These are the passages most relevant to the question, ranked by BM25, instead.`,
      };
    }
  }

  private client(): ChatClient {
    const { summaryLlmBaseUrl, summaryLlmApiKey } = this.config;
    this.chat ??= new ChatClient({ baseUrl: summaryLlmBaseUrl!, ...(summaryLlmApiKey ? { apiKey: summaryLlmApiKey } : {}), http: this.http });
    return this.chat;
  }

  /**
   * One extraction, as MiroThinker makes it: on a context overflow the end of the content is cut
   * further and the call repeated; an answer cut at the output limit (or looping) is asked again
   * once with less content.
   */
  private async ask(model: string, content: string, question: string, signal: AbortSignal | undefined): Promise<Answer> {
    let tokensUsed = 0;
    let tailCut = 0;
    let askedAgain = false;
    for (let attempt = 1; ; attempt++) {
      const shown = tailCut > 0 ? cutTail(content, tailCut) : content;
      let answer: ChatAnswer;
      try {
        answer = await this.client().complete(payload(model, extractionPrompt(question, shown)), signal ? { signal } : {});
      } catch (error) {
        if (error instanceof FathomError && error.code !== 'cancelled' && CONTEXT_OVERFLOW.test(error.message) && attempt < MAX_ATTEMPTS) {
          tailCut = Math.max(tailCut, TAIL_CUT_STEP * attempt);
          this.logger.debug('extraction prompt too long for the model; cutting the content', { model, tailCut });
          continue;
        }
        throw error;
      }
      const text = stripThinking(answer.content, { rule: 'leading' });
      const total = answer.usage?.total_tokens ?? 0;
      tokensUsed += total > 0 ? total : 0;
      const { finishReason } = answer;
      const cutShort = finishReason === 'length' || repeatsItself(text, { overlapping: true });
      if (cutShort && !askedAgain && attempt < MAX_ATTEMPTS) {
        askedAgain = true;
        tailCut += Math.min(TAIL_CUT_STEP, Math.floor((content.length - tailCut) / 2));
        this.logger.debug('extraction answer cut short; asking again with less content', { model, finishReason, tailCut });
        continue;
      }
      if (!text) throw new FathomError('upstream', cutShort ? 'the model spent its whole output limit without answering' : 'the model returned an empty answer');
      return { text, tokensUsed, cutShort, tailCut: tailCut > 0 };
    }
  }
}

/** MiroThinker's extraction prompt with the question and the content in its two `{}` slots. */
export function extractionPrompt(question: string, content: string): string {
  const template = mirothinkerPrompts().extract_info_prompt;
  const parts = typeof template === 'string' ? template.split('{}') : [];
  if (parts.length !== 3) throw new FathomError('internal', 'The extraction prompt template does not have exactly two {} slots');
  return parts[0]! + question + parts[1]! + content + parts[2]!;
}

/** The request body MiroThinker sends: GPT models take max_completion_tokens and their default temperature. */
function payload(model: string, prompt: string): Record<string, unknown> {
  const messages = [{ role: 'user', content: prompt }];
  if (!model.includes('gpt')) return { model, max_tokens: MAX_ANSWER_TOKENS, messages, temperature: 1.0 };
  const body: Record<string, unknown> = { model, max_completion_tokens: MAX_ANSWER_TOKENS, messages };
  if (/gpt-?5/i.test(model)) body.reasoning_effort = 'minimal';
  return body;
}

/** The first `max` characters (code points, as Python counts them). */
export function cutChars(text: string, max: number): string {
  if (text.length <= max) return text;
  let units = 0;
  for (let points = 0; points < max && units < text.length; points++) {
    const code = text.charCodeAt(units);
    units += code >= 0xd800 && code <= 0xdbff && units + 1 < text.length ? 2 : 1;
  }
  return text.slice(0, units);
}

/** The content without its last `chars` characters, marked as cut. */
function cutTail(content: string, chars: number): string {
  let keep = Math.max(0, content.length - chars);
  const code = content.charCodeAt(keep - 1);
  if (code >= 0xd800 && code <= 0xdbff) keep--;
  return content.slice(0, keep) + TRUNCATION_MARK;
}

function passages(content: string, question: string, maxChars: number, reason: string): Extraction {
  const header = `The passages most relevant to the question, ranked by BM25 and shown in page order (${reason}):`;
  const chosen = bestPassages(content, question, Math.max(200, maxChars - header.length - 2));
  return {
    text: [header, formatPassages(chosen)].join('\n\n'),
    method: 'passages',
    model: PASSAGES_MODEL,
    tokensUsed: 0,
    contentChars: content.length,
    truncated: false,
  };
}

/** Markdown: each heading once where it changes, `…` between passages that are not adjacent. */
export function formatPassages(chosen: readonly BestPassage[]): string {
  const parts: string[] = [];
  let previous: BestPassage | undefined;
  for (const passage of chosen) {
    if (passage.heading && passage.heading !== previous?.heading) parts.push(`### ${passage.heading}`);
    else if (previous && passage.index !== previous.index + 1) parts.push('…');
    parts.push(passage.text);
    previous = passage;
  }
  return parts.join('\n\n');
}
