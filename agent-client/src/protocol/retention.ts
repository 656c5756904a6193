import { mirothinkerPrompts } from '@fathom/core';
import type { ChatMessage } from '../types.js';

function isResultRole(message: ChatMessage): boolean {
  return message.role === 'user' || message.role === 'tool';
}

/**
 * Recency-based context retention: the first user message (the task) and the last `keep` user or
 * tool messages after it keep their content; every other one says the result was omitted.
 * System and assistant messages pass through. A negative `keep` keeps everything. Unchanged
 * messages are the same objects; replaced ones are new.
 */
export function applyRetention(messages: ChatMessage[], keep: number): ChatMessage[] {
  if (keep < 0) return [...messages];
  const results = messages.flatMap((message, index) => (isResultRole(message) ? [index] : []));
  const kept = new Set([...results.slice(0, 1), ...(keep > 0 ? results.slice(1).slice(-keep) : [])]);
  const omitted = mirothinkerPrompts().omitted_tool_result as string;
  return messages.map((message, index) =>
    isResultRole(message) && !kept.has(index) ? { ...message, content: omitted } : message,
  );
}
