import { describe, expect, it } from 'vitest';
import { applyRetention } from '../src/protocol/index.js';
import type { ChatMessage } from '../src/types.js';

const OMITTED = 'Tool result is omitted to save tokens.';

function history(results: number): ChatMessage[] {
  const messages: ChatMessage[] = [
    { role: 'system', content: 'system' },
    { role: 'user', content: 'task' },
  ];
  for (let index = 1; index <= results; index++) {
    messages.push({ role: 'assistant', content: `call ${index}` }, { role: 'user', content: `result ${index}` });
  }
  return messages;
}

describe('applyRetention', () => {
  it('keeps the system message, the task and the last K results, and omits the others', () => {
    const messages = history(8);
    const kept = applyRetention(messages, 5);
    expect(kept.map((message) => message.content)).toEqual([
      'system',
      'task',
      'call 1',
      OMITTED,
      'call 2',
      OMITTED,
      'call 3',
      OMITTED,
      'call 4',
      'result 4',
      'call 5',
      'result 5',
      'call 6',
      'result 6',
      'call 7',
      'result 7',
      'call 8',
      'result 8',
    ]);
  });

  it('never changes assistant messages and does not mutate its input', () => {
    const messages = history(8);
    const before = structuredClone(messages);
    const kept = applyRetention(messages, 1);
    expect(messages).toEqual(before);
    expect(kept).not.toBe(messages);
    kept.forEach((message, index) => {
      if (message.role !== 'user' || message.content !== OMITTED) expect(message).toBe(messages[index]);
    });
  });

  it('keeps everything with -1 and when there are no more than K results', () => {
    const messages = history(8);
    expect(applyRetention(messages, -1)).toEqual(messages);
    expect(applyRetention(messages, -1)).not.toBe(messages);
    expect(applyRetention(history(3), 5)).toEqual(history(3));
  });

  it('keeps only the task with 0', () => {
    const kept = applyRetention(history(2), 0);
    expect(kept.filter((message) => message.role === 'user').map((message) => message.content)).toEqual(['task', OMITTED, OMITTED]);
  });

  it('counts tool messages as results', () => {
    const messages: ChatMessage[] = [
      { role: 'user', content: 'task' },
      { role: 'assistant', content: '', tool_calls: [{ id: '1', type: 'function', function: { name: 'f', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: '1', content: 'old' },
      { role: 'assistant', content: '' },
      { role: 'tool', tool_call_id: '2', content: 'new' },
    ];
    const kept = applyRetention(messages, 1);
    expect(kept[2]).toEqual({ role: 'tool', tool_call_id: '1', content: OMITTED });
    expect(kept[4]!.content).toBe('new');
  });
});
