import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFathomError } from '@fathom/core';
import { PromptLog, TraceWriter, formatMs, fullCall, promptsOf, readTrace, renderTrace, shortCall, verboseLines } from '../src/trace.js';
import type { ChatMessage } from '../src/types.js';
import type { TraceEvent } from '../src/trace.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fathom-trace-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const ANSI = new RegExp(String.fromCharCode(27) + '\\[');

function sampleTrace(): TraceEvent[] {
  const at = '2025-06-01T10:00:00.000Z';
  return [
    { t: 0, at, type: 'start', task: 'What is 1+1?\nAnswer with a number.', model: 'miromind-ai/MiroThinker-v1.0-8B' },
    { t: 5, at, type: 'request', turn: 1, messages: 2, estimate: 3200 },
    {
      t: 1500,
      at,
      type: 'response',
      turn: 1,
      content: '<think>\nI should compute this with Python.\nThen check it.\n</think>\nLet me run it.\n<use_mcp_tool>\n<server_name>tool-python</server_name>\n<tool_name>run_python_code</tool_name>\n<arguments>\n{"code_block": "print(1+1)"}\n</arguments>\n</use_mcp_tool>',
      usage: { prompt_tokens: 3200, completion_tokens: 120, total_tokens: 3320 },
      ms: 1495,
      finishReason: 'stop',
    },
    { t: 1501, at, type: 'tool_call', turn: 1, call: { server: 'tool-python', tool: 'run_python_code', arguments: { code_block: 'print(1+1)\n' + 'x = 1\n'.repeat(20), sandbox_id: 'sb1' } } },
    { t: 2700, at, type: 'tool_result', turn: 1, server: 'tool-python', tool: 'run_python_code', isError: false, chars: 96, ms: 1199, text: "Execution(Results: [], Logs: Logs(stdout: ['2\\n'], stderr: []), Error: None)" },
    { t: 2710, at, type: 'request', turn: 2, messages: 4 },
    { t: 3000, at, type: 'response', turn: 2, content: '<think>I am sorry</think>time constraint', usage: { total_tokens: 10 } },
    { t: 3001, at, type: 'rollback', turn: 2, reason: 'refusal: time constraint' },
    { t: 3100, at, type: 'retention', turn: 2, omitted: 1, kept: 5 },
    { t: 4000, at, type: 'response', turn: 2, content: '<think>The answer is 2.</think>\nThe result is 2.', usage: { total_tokens: 3400 } },
    { t: 4001, at, type: 'summary', reason: 'answered' },
    { t: 4002, at, type: 'request', turn: 3, messages: 5 },
    { t: 4500, at, type: 'response', turn: 3, content: '\\boxed{2}', usage: { total_tokens: 3500 } },
    { t: 4501, at, type: 'answer', answer: '2' },
    { t: 4502, at, type: 'end', turns: 2, toolCalls: 1, tokens: 10230, ms: 4502 },
  ];
}

describe('TraceWriter and readTrace', () => {
  it('round-trips events, one JSON object a line, with t and at', () => {
    const path = join(dir, 'sub', 'task-run1.jsonl');
    const writer = TraceWriter.open(path);
    writer.write({ type: 'start', task: 'q', model: 'm' });
    writer.write({ type: 'tool_call', turn: 1, call: { server: 's', tool: 't', arguments: { a: 'line\nbreak' } } });
    writer.write({ type: 'end', turns: 1 });
    writer.close();

    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    const events = readTrace(path);
    expect(events.map((event) => event.type)).toEqual(['start', 'tool_call', 'end']);
    expect(events[1]).toMatchObject({ turn: 1, call: { arguments: { a: 'line\nbreak' } } });
    for (const event of events) {
      expect(typeof event.t).toBe('number');
      expect(event.t).toBeGreaterThanOrEqual(0);
      expect(new Date(event.at).toISOString()).toBe(event.at);
    }
  });

  it('writes each line at once: the file is complete before close', () => {
    const path = join(dir, 'live.jsonl');
    const writer = TraceWriter.open(path);
    writer.write({ type: 'start' });
    writer.write({ type: 'request', turn: 1 });
    expect(readTrace(path)).toHaveLength(2);
    writer.close();
    writer.write({ type: 'event', message: 'late' });
    expect(readTrace(path).map((event) => event.type)).toEqual(['start', 'request', 'event']);
  });

  it('truncates an older trace unless appending', () => {
    const path = join(dir, 'again.jsonl');
    const first = TraceWriter.open(path);
    first.write({ type: 'start' });
    first.close();
    const appended = TraceWriter.open(path, { append: true });
    appended.write({ type: 'end' });
    appended.close();
    expect(readTrace(path)).toHaveLength(2);
    TraceWriter.open(path).close();
    expect(readTrace(path)).toHaveLength(0);
  });

  it('tolerates a truncated last line, not a corrupt one in the middle', () => {
    const path = join(dir, 'cut.jsonl');
    const writer = TraceWriter.open(path);
    writer.write({ type: 'start' });
    writer.write({ type: 'request', turn: 1 });
    writer.close();
    appendFileSync(path, '{"t": 12, "at": "2025-06-01T10:00:00.000Z", "type": "respo');
    expect(readTrace(path).map((event) => event.type)).toEqual(['start', 'request']);

    const broken = join(dir, 'broken.jsonl');
    writeFileSync(broken, '{"t":0,"at":"x","type":"start"}\nnot json\n{"t":1,"at":"x","type":"end"}\n');
    expect(() => readTrace(broken)).toThrow(/line 2/);
  });

  it('reports a missing trace as not_found', () => {
    try {
      readTrace(join(dir, 'none.jsonl'));
      expect.unreachable();
    } catch (error) {
      expect(isFathomError(error, 'not_found')).toBe(true);
    }
  });

  it('survives an event that cannot be serialized', () => {
    const path = join(dir, 'cycle.jsonl');
    const writer = TraceWriter.open(path);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    writer.write({ type: 'event', data: cycle });
    writer.close();
    expect(readTrace(path)[0]).toMatchObject({ type: 'event' });
    expect(readTrace(path)[0]!.unserializable).toBeTypeOf('string');
  });
});

describe('renderTrace', () => {
  it('shows turns, thinking, calls, results, rollbacks, retention, answer and totals', () => {
    const text = renderTrace(sampleTrace(), { width: 140 });
    expect(text).not.toMatch(ANSI);
    expect(text).toContain('── turn 1 ');
    expect(text).toContain('── turn 2 ');
    expect(text).not.toContain('── turn 3 ');
    expect(text).toContain('── summary ');
    expect(text).toMatch(/think\s+I should compute this with Python\. Then check it\./);
    expect(text).toMatch(/says\s+Let me run it\./);
    expect(text).not.toMatch(/says.*use_mcp_tool/);
    expect(text).toContain('tool-python/run_python_code code_block="print(1+1)\\nx = 1\\nx = 1\\nx = 1\\nx = 1\\nx = …" sandbox_id="sb1"');
    expect(text).toMatch(/result\s+96 chars · 1\.2s {2}Execution\(Results: \[\]/);
    expect(text).toMatch(/rollback\s+refusal: time constraint/);
    expect(text).toMatch(/retention\s+1 results omitted · 5 kept/);
    expect(text).toMatch(/answer\s+2/);
    expect(text).toContain('2 turns · 1 tool calls · 10,230 tokens · 4.5s · 1 rollbacks · stop: answered');
    expect(text).toMatch(/^ {5}0ms {2}start/m);
    expect(text).toMatch(/^ {4}1\.5s {2}response/m);
  });

  it('keeps every line within the width', () => {
    const text = renderTrace(sampleTrace(), { width: 60 });
    for (const line of text.trimEnd().split('\n')) expect(line.length).toBeLessThanOrEqual(60);
  });

  it('colors only when asked', () => {
    expect(renderTrace(sampleTrace(), { color: true })).toMatch(ANSI);
    expect(renderTrace(sampleTrace(), { color: false })).not.toMatch(ANSI);
  });

  it('falls back to counting when there is no end event', () => {
    const events = sampleTrace().filter((event) => event.type !== 'end');
    const text = renderTrace(events);
    expect(text).toContain('3 turns · 1 tool calls · 10,230 tokens · 4.5s');
  });

  it('renders errors and reasoning sent apart from the content', () => {
    const at = '2025-06-01T10:00:00.000Z';
    const text = renderTrace([
      { t: 0, at, type: 'response', turn: 1, content: 'Searching.', reasoning: 'Look it up first.' },
      { t: 10, at, type: 'tool_result', turn: 1, server: 'search_and_scrape_webpage', tool: 'google_search', isError: true, chars: 20, text: 'Unknown tool: x' },
      { t: 20, at, type: 'error', error: 'model unavailable' },
    ]);
    expect(text).toMatch(/think\s+Look it up first\./);
    expect(text).toMatch(/error\s+20 chars {2}Unknown tool: x/);
    expect(text).toMatch(/error\s+model unavailable/);
  });
});

describe('renderTrace --full', () => {
  it('prints whole arguments, results, thinking and texts, over their own lines', () => {
    const events = sampleTrace();
    const long = 'row '.repeat(5000);
    events.splice(5, 0, { t: 2701, at: events[0]!.at, type: 'tool_result', turn: 1, server: 's', tool: 't', isError: false, chars: 45_000, text: long });
    const text = renderTrace(events, { width: 80, full: true });
    expect(text).toContain('think     I should compute this with Python.\n                    Then check it.');
    expect(text).toContain('call      tool-python/run_python_code\n                    code_block:\n                      print(1+1)\n                      x = 1\n');
    expect(text).toContain('                    sandbox_id: sb1');
    expect(text).toContain(long.trimEnd());
    expect(text).toContain('[the trace keeps the first 20,000 of 45,000 characters]');
    expect(text).toContain("Execution(Results: [], Logs: Logs(stdout: ['2\\n'], stderr: []), Error: None)");
    // Without --full the same trace stays one cut line per row.
    expect(renderTrace(events, { width: 80 })).not.toContain(long.trimEnd());
  });

  it('fullCall writes JSON for values that are not strings', () => {
    expect(fullCall('s', 't', { q: 'x', num: 3, list: [1, 2] })).toBe('s/t\nq: x\nnum: 3\nlist:\n  [\n    1,\n    2\n  ]');
  });
});

describe('prompts in the trace', () => {
  it('stores each message once and rebuilds every request exactly, retention rewrites included', () => {
    const log = new PromptLog();
    const system: ChatMessage = { role: 'system', content: 'sys' };
    const task: ChatMessage = { role: 'user', content: 'task' };
    const call = (n: number): ChatMessage => ({ role: 'assistant', content: `call ${n}` });
    const result = (n: number): ChatMessage => ({ role: 'user', content: `result ${n} `.repeat(100) });
    const omitted: ChatMessage = { role: 'user', content: 'Tool result is omitted to save tokens.' };
    const requests: ChatMessage[][] = [
      [system, task],
      [system, task, call(1), result(1)],
      [system, task, call(1), result(1), call(2), result(2)],
      [system, task, call(1), omitted, call(2), result(2), call(3), result(3)],
      [system, task, call(1), omitted, call(2), omitted, call(3), result(3), { role: 'assistant', content: 'prefix' }],
    ];
    const tools = [{ type: 'function', function: { name: 'f' } }];
    const events = requests.map((messages, index): TraceEvent => ({ t: index, at: 'x', ...log.entry(messages, index === 0 ? undefined : tools) }));
    expect(promptsOf(events)).toEqual(requests.map((messages, index) => ({ messages, ...(index === 0 ? {} : { tools }) })));
    // Each distinct message is written once; later prompts refer to it by hash.
    const stored = events.flatMap((event) => (event.added as { message: ChatMessage }[]).map((entry) => entry.message.content));
    expect(stored.filter((content) => content.startsWith('result 1'))).toHaveLength(1);
    expect(events[2]).toMatchObject({ same: 4 });
    expect(events[3]).toMatchObject({ same: 3 });
    expect(events.filter((event) => event.tools)).toHaveLength(1);
    // A trace cut before a message was stored says so.
    expect(() => promptsOf(events.slice(1))).toThrow(/never stored/);
  });
});

describe('verboseLines', () => {
  it("shows a response's thinking and what it said, and the head of a tool result", () => {
    expect(verboseLines({ type: 'response', content: '<think>\nFirst search.\nThen read.\n</think>\n\nI will search.\n<use_mcp_tool>x</use_mcp_tool>' })).toEqual([
      '  think │ First search.',
      '        │ Then read.',
      '  says  │ I will search.',
    ]);
    expect(verboseLines({ type: 'response', content: 'Done.', reasoning: 'Reasoned apart.' })).toEqual(['  think │ Reasoned apart.', '  says  │ Done.']);
    const text = Array.from({ length: 10 }, (_, index) => `line ${index} ${'x'.repeat(index === 1 ? 300 : 0)}`).join('\n');
    const lines = verboseLines({ type: 'tool', turn: 1, call: { server: 's', tool: 't', arguments: {} }, outcome: { call: { server: 's', tool: 't', arguments: {} }, text, isError: false, ms: 5 } });
    expect(lines).toHaveLength(7);
    expect(lines[0]).toBe('    ⎿ line 0 ');
    expect(lines[1]!.length).toBeLessThanOrEqual(6 + 160);
    expect(lines[6]).toBe(`      … 4 more lines, ${text.length} chars in all`);
    expect(verboseLines({ type: 'turn', turn: 2, tokens: 0 })).toEqual([]);
  });
});

describe('helpers', () => {
  it('shortCall quotes strings and cuts long values', () => {
    expect(shortCall('search_and_scrape_webpage', 'google_search', { q: 'a "b"', num: 10 })).toBe('search_and_scrape_webpage/google_search q="a \\"b\\"" num=10');
    expect(shortCall('s', 't', { x: 'y'.repeat(50) }, 10)).toBe('s/t x="yyyyyyyyy…"');
  });

  it('formatMs', () => {
    expect(formatMs(850)).toBe('850ms');
    expect(formatMs(12_340)).toBe('12.3s');
    expect(formatMs(312_000)).toBe('5m 12s');
    expect(formatMs(3_720_000)).toBe('1h 02m');
  });
});
