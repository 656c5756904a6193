import { describe, expect, it } from 'vitest';
import { cutChars, toolResultsMessage } from '../src/protocol/index.js';

describe('toolResultsMessage', () => {
  it('passes a result through as is', () => {
    expect(toolResultsMessage([{ server: 's', tool: 't', text: '{"organic": []}', isError: false }])).toBe('{"organic": []}');
  });

  it('joins the results of one turn with a line break', () => {
    const text = toolResultsMessage([
      { server: 's', tool: 'a', text: 'first', isError: false },
      { server: 's', tool: 'b', text: 'second', isError: false },
    ]);
    expect(text).toBe('first\nsecond');
  });

  it('writes a failed call the way MiroThinker does', () => {
    const text = toolResultsMessage([{ server: 'tool-python', tool: 'run_command', text: 'Tool execution failed: timeout', isError: true }]);
    expect(text).toBe('Tool call to run_command on tool-python failed. Error: Tool execution failed: timeout');
  });

  it('cuts a result longer than 100,000 characters', () => {
    const text = toolResultsMessage([{ server: 's', tool: 't', text: 'a'.repeat(100_005), isError: false }]);
    expect(text).toBe('a'.repeat(100_000) + '\n... [Result truncated]');
    expect(toolResultsMessage([{ server: 's', tool: 't', text: 'a'.repeat(100_000), isError: false }])).toBe('a'.repeat(100_000));
  });
});

describe('cutChars', () => {
  it('counts characters as Python does, not UTF-16 units', () => {
    expect(cutChars('😀😀😀', 2, '…')).toBe('😀😀…');
    expect(cutChars('😀😀', 2, '…')).toBe('😀😀');
    expect(cutChars('ab', 5, '…')).toBe('ab');
  });
});
