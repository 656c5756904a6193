import { describe, expect, it } from 'vitest';
import { parseArguments, parseToolCalls } from '../src/protocol/index.js';

function block(server: string, tool: string, args: string): string {
  return `<use_mcp_tool>\n<server_name>${server}</server_name>\n<tool_name>${tool}</tool_name>\n<arguments>\n${args}\n</arguments>\n</use_mcp_tool>`;
}

describe('parseToolCalls', () => {
  it('reads a well-formed block at the end of a turn', () => {
    const text = `<think>\nI should search.\n</think>\n\nLet me search.\n\n${block('search_and_scrape_webpage', 'google_search', '{"q": "MiroThinker paper", "num": 10}')}`;
    expect(parseToolCalls(text)).toEqual({
      calls: [{ server: 'search_and_scrape_webpage', tool: 'google_search', arguments: { q: 'MiroThinker paper', num: 10 } }],
      malformed: false,
    });
  });

  it('reads every block of a turn and trims the names', () => {
    const text = [
      block(' tool-python ', '\ncreate_sandbox\n', '{}'),
      'and then',
      block('jina_scrape_llm_summary', 'scrape_and_extract_info', '{"url": "https://example.com", "info_to_extract": "title"}'),
    ].join('\n');
    const { calls, malformed } = parseToolCalls(text);
    expect(malformed).toBe(false);
    expect(calls.map((call) => `${call.server}/${call.tool}`)).toEqual(['tool-python/create_sandbox', 'jina_scrape_llm_summary/scrape_and_extract_info']);
    expect(calls[0]!.arguments).toEqual({});
  });

  it('accepts blocks without line breaks between the tags', () => {
    const text = '<use_mcp_tool><server_name>s</server_name><tool_name>t</tool_name><arguments>{"a": 1}</arguments></use_mcp_tool>';
    expect(parseToolCalls(text).calls).toEqual([{ server: 's', tool: 't', arguments: { a: 1 } }]);
  });

  it.each([
    ['unescaped quotes', '{"q": "the "best" paper"}', { q: 'the "best" paper' }],
    ['a trailing comma', '{"q": "x", "num": 5,}', { q: 'x', num: 5 }],
    ['single quotes', "{'q': 'x'}", { q: 'x' }],
    ['unquoted keys', '{q: "x", num: 3}', { q: 'x', num: 3 }],
    ['a missing closing brace', '{"url": "https://a.b", "info_to_extract": "who"', { url: 'https://a.b', info_to_extract: 'who' }],
    ['a raw line break in a string', '{"code_block": "print(1)\nprint(2)", "sandbox_id": "s"}', { code_block: 'print(1)\nprint(2)', sandbox_id: 's' }],
  ])('repairs %s', (_name, args, expected) => {
    const { calls, malformed } = parseToolCalls(block('s', 't', args));
    expect(malformed).toBe(false);
    expect(calls[0]!.arguments).toEqual(expected);
  });

  it('drops keys whose value is null', () => {
    const { calls } = parseToolCalls(block('s', 'google_search', '{"q": "x", "location": null, "num": null, "gl": "us"}'));
    expect(calls[0]!.arguments).toEqual({ q: 'x', gl: 'us' });
  });

  it('marks MCP tags without a well-formed block as malformed', () => {
    expect(parseToolCalls('<use_mcp_tool>\n<server_name>s</server_name>\n<arguments>{}</arguments>\n</use_mcp_tool>')).toEqual({ calls: [], malformed: true });
    expect(parseToolCalls('text <use_mcp_tool>\n<server_name>s</server_name>\n<tool_name>t</tool_name>\n<arguments>\n{"a": 1}')).toEqual({ calls: [], malformed: true });
    expect(parseToolCalls('only a closing </arguments> tag').malformed).toBe(true);
  });

  it('marks arguments that are no JSON object even after repair as malformed', () => {
    expect(parseToolCalls(block('s', 't', '')).malformed).toBe(true);
    expect(parseToolCalls(block('s', 't', '[1, 2]')).malformed).toBe(true);
    const mixed = parseToolCalls(`${block('s', 'good', '{"a": 1}')}\n${block('s', 'bad', '"just text"')}`);
    expect(mixed.malformed).toBe(true);
    expect(mixed.calls.map((call) => call.tool)).toEqual(['good']);
  });

  it('finds nothing in text without tags', () => {
    expect(parseToolCalls('<think>done</think>\nThe answer is \\boxed{42}.')).toEqual({ calls: [], malformed: false });
    expect(parseToolCalls('')).toEqual({ calls: [], malformed: false });
  });

  it('keeps a "__proto__" key as a plain key', () => {
    const args = parseArguments('{"__proto__": {"x": 1}, "a": 2}')!;
    expect(Object.getPrototypeOf(args)).toBe(Object.prototype);
    expect(Object.keys(args)).toEqual(['__proto__', 'a']);
  });
});
