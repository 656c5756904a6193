import { describe, expect, it } from 'vitest';
import { parseToolCalls, resultRollbackReason, rollbackReason, scrapeKey, searchKey } from '../src/protocol/index.js';
import type { ToolCall } from '../src/types.js';

const search = (q: string): ToolCall => ({ server: 'search_and_scrape_webpage', tool: 'google_search', arguments: { q } });
const scrape = (url: string, info: string): ToolCall => ({
  server: 'jina_scrape_llm_summary',
  tool: 'scrape_and_extract_info',
  arguments: { url, info_to_extract: info },
});

function empty() {
  return { succeededQueries: new Set<string>(), succeededScrapes: new Set<string>() };
}

describe('rollbackReason', () => {
  it('accepts an ordinary turn', () => {
    expect(rollbackReason({ text: 'searching', calls: [search('a')], malformed: false }, empty())).toBeUndefined();
    expect(rollbackReason({ text: 'The answer is \\boxed{1}', calls: [], malformed: false }, empty())).toBeUndefined();
  });

  it('rolls back MCP tags that could not be parsed', () => {
    const turn = parseToolCalls('<use_mcp_tool>\n<server_name>s</server_name>');
    expect(rollbackReason({ text: '...', ...turn }, empty())).toMatch(/MCP tags/);
  });

  it('rolls back a refusal in a turn without tool calls', () => {
    for (const text of ['Due to time constraint, I stop.', 'I’m sorry, but I can’t help.', "I'm sorry, I cannot solve this."]) {
      expect(rollbackReason({ text, calls: [], malformed: false }, empty())).toMatch(/refusal/);
    }
    expect(rollbackReason({ text: 'There is a time constraint on the task.', calls: [search('a')], malformed: false }, empty())).toBeUndefined();
  });

  it('rolls back a google_search query that already ran', () => {
    const history = empty();
    history.succeededQueries.add(searchKey(search('MiroThinker'))!);
    expect(rollbackReason({ text: '', calls: [search('MiroThinker')], malformed: false }, history)).toMatch(/repeated google_search query: MiroThinker/);
    expect(rollbackReason({ text: '', calls: [search('MiroThinker 2')], malformed: false }, history)).toBeUndefined();
  });

  it('rolls back a scrape of the same url for the same information', () => {
    const history = empty();
    history.succeededScrapes.add(scrapeKey(scrape('https://a.b', 'title'))!);
    expect(rollbackReason({ text: '', calls: [scrape('https://a.b', 'title')], malformed: false }, history)).toMatch(/repeated scrape_and_extract_info/);
    expect(rollbackReason({ text: '', calls: [scrape('https://a.b', 'author')], malformed: false }, history)).toBeUndefined();
  });

  it('rolls back a call repeated within the turn', () => {
    expect(rollbackReason({ text: '', calls: [search('x'), search('x')], malformed: false }, empty())).toMatch(/repeated/);
  });

  it('keys searches by q and scrapes by url and question, for those tools only', () => {
    expect(searchKey(search('q1'))).toBe('q1');
    expect(scrapeKey(scrape('https://a.b', 'who'))).toBe('https://a.b\nwho');
    expect(searchKey(scrape('https://a.b', 'who'))).toBeUndefined();
    expect(scrapeKey({ ...scrape('https://a.b', 'who'), tool: 'other' })).toBeUndefined();
  });
});

describe('resultRollbackReason', () => {
  const outcome = (call: ToolCall, text: string, isError = false) => ({ call, text, isError });
  const python: ToolCall = { server: 'tool-python', tool: 'run_python_code', arguments: { code_block: '1', sandbox_id: 's' } };

  it('rolls back a call the server could not run', () => {
    expect(resultRollbackReason(outcome(python, 'Unknown tool: run_python'))).toMatch(/could not run/);
    expect(resultRollbackReason(outcome(python, 'Error executing tool run_python_code: 1 validation error'))).toMatch(/could not run/);
    expect(resultRollbackReason(outcome(python, 'Unknown tool "run_python". This server\'s tools are: run_python_code.', true))).toMatch(/could not run/);
    expect(resultRollbackReason(outcome(python, 'Invalid arguments for run_python_code:\n✖ Required', true))).toMatch(/could not run/);
    expect(resultRollbackReason(outcome(python, 'run_python_code failed with an internal error: boom', true))).toMatch(/could not run/);
  });

  it('keeps an ordinary result or error', () => {
    expect(resultRollbackReason(outcome(python, 'Execution(Results: [Result(4)], Logs: Logs(stdout: [], stderr: []), Error: None)'))).toBeUndefined();
    expect(resultRollbackReason(outcome(python, 'Tool execution failed: timeout', true))).toBeUndefined();
    expect(resultRollbackReason(outcome(python, '[ERROR]: no such file'))).toBeUndefined();
  });

  it('rolls back a google_search without organic results', () => {
    expect(resultRollbackReason(outcome(search('x'), '{"organic": [], "searchParameters": {"q": "x"}}'))).toMatch(/no organic results/);
    expect(resultRollbackReason(outcome(search('x'), '{"success": false, "error": "quota", "results": []}'))).toMatch(/no organic results/);
    expect(resultRollbackReason(outcome(search('x'), '{"organic": [{"title": "t", "link": "https://a.b"}]}'))).toBeUndefined();
    expect(resultRollbackReason(outcome(search('x'), 'not json'))).toBeUndefined();
    expect(resultRollbackReason(outcome(search('x'), ''))).toBeUndefined();
    expect(resultRollbackReason(outcome(python, '{"organic": []}'))).toBeUndefined();
  });
});
