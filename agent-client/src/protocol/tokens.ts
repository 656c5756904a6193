import { countTokens as countO200k } from 'gpt-tokenizer/encoding/o200k_base';
import type { ChatMessage } from '../types.js';

/** Special-token strings in a text are counted as ordinary text, never rejected. */
const AS_TEXT = { disallowedSpecial: new Set<string>() };

/** Chat-template tokens around each message: `<|im_start|>role\n` ... `<|im_end|>\n`. */
export const MESSAGE_OVERHEAD_TOKENS = 5;

/** MiroThinker's safety margin in its context check (ensure_summary_context). */
export const CONTEXT_BUFFER_TOKENS = 1000;

/** Texts already counted are kept up to this many characters in all, least recently used dropped first. */
const CACHE_CHARS = 16_000_000;

const cache = new Map<string, number>();
let cachedChars = 0;

/** Tokens of `text` with the o200k_base encoding, the one MiroThinker estimates context with. */
export function countTokens(text: string): number {
  const known = cache.get(text);
  if (known !== undefined) {
    cache.delete(text);
    cache.set(text, known);
    return known;
  }
  const tokens = countO200k(text, AS_TEXT);
  if (text.length <= CACHE_CHARS) {
    cache.set(text, tokens);
    cachedChars += text.length;
    for (const [oldest] of cache) {
      if (cachedChars <= CACHE_CHARS) break;
      cache.delete(oldest);
      cachedChars -= oldest.length;
    }
  }
  return tokens;
}

function messageTokens(message: ChatMessage): number {
  let tokens = MESSAGE_OVERHEAD_TOKENS + countTokens(message.content);
  for (const call of message.tool_calls ?? []) tokens += countTokens(call.function.name) + countTokens(call.function.arguments);
  return tokens;
}

/**
 * The context a request needs: every message and the completion budget, plus MiroThinker's margin.
 * Counts are cached by text, so a long run does not count its history again on every turn.
 */
export function estimateContext(messages: ChatMessage[], maxTokens: number): number {
  return messages.reduce((total, message) => total + messageTokens(message), 0) + maxTokens + CONTEXT_BUFFER_TOKENS;
}
