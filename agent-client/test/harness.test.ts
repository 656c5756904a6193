import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mirothinkerHarness } from '@fathom/core';
import { describe, expect, it } from 'vitest';
import { FATHOM_BIN } from '../../tests/helpers.js';
import { agentConfigNames, attemptsOf, defaultAgentConfig, describeHarness, resolveHarness } from '../src/harness.js';
import { extractFailureSummary } from '../src/loop.js';
import { correctToolNames, fixArguments, rollbackReason } from '../src/protocol/index.js';
import type { ServerTools } from '../src/types.js';

describe('MiroThinker agent configs', () => {
  it('carries the seven configs as their yaml files set them (after defaults)', () => {
    expect(agentConfigNames()).toEqual([
      'mirothinker_v1.0',
      'mirothinker_v1.0_keep5',
      'mirothinker_v1.5',
      'mirothinker_v1.5_keep5_max200',
      'mirothinker_v1.5_keep5_max400',
      'mirothinker_1.7_keep5_max200',
      'mirothinker_1.7_keep5_max300',
    ]);
    const table = Object.fromEntries(agentConfigNames().map((name) => {
      const harness = resolveHarness({ name, model: '' });
      return [name, [harness.maxTurns, harness.keep, harness.compressLimit, harness.retryWithSummary, harness.finalAnswerRetries]];
    }));
    expect(table).toEqual({
      'mirothinker_v1.0': [600, -1, 0, true, 3],
      'mirothinker_v1.0_keep5': [600, 5, 5, true, 1],
      'mirothinker_v1.5': [600, -1, 0, true, 3],
      'mirothinker_v1.5_keep5_max200': [200, 5, 5, true, 1],
      'mirothinker_v1.5_keep5_max400': [400, 5, 5, true, 1],
      'mirothinker_1.7_keep5_max200': [200, 5, 5, false, 1],
      'mirothinker_1.7_keep5_max300': [300, 5, 5, false, 1],
    });
    expect(resolveHarness({ name: 'mirothinker_1.7_keep5_max300', model: '' }).hiddenTools).toEqual([
      ['search_and_scrape_webpage', 'sogou_search'],
      ['tool-python', 'download_file_from_sandbox_to_local'],
    ]);
    expect(mirothinkerHarness().llm).toEqual({ temperature: 1, topP: 0.95, maxTokens: 16384, contextTokens: 262144, repetitionPenalty: 1.05 });
  });

  it('chooses the config from the model name', () => {
    expect(defaultAgentConfig('miromind-ai/MiroThinker-1.7')).toBe('mirothinker_1.7_keep5_max200');
    expect(defaultAgentConfig('MiroThinker-1.7-mini')).toBe('mirothinker_1.7_keep5_max200');
    expect(defaultAgentConfig('miromind-ai/MiroThinker-v1.5-30B')).toBe('mirothinker_v1.5_keep5_max200');
    expect(defaultAgentConfig('miromind-ai/MiroThinker-v1.0-72B')).toBe('mirothinker_v1.0_keep5');
    expect(defaultAgentConfig('qwen-2.5-72b')).toBe('mirothinker_v1.0_keep5');
    expect(defaultAgentConfig('my-model-11.7')).toBe('mirothinker_v1.0_keep5');
  });

  it('lets --max-turns and --keep override, and says where each setting came from', () => {
    const harness = resolveHarness({ model: 'MiroThinker-1.7-mini', maxTurns: 50 });
    expect(harness).toMatchObject({ name: 'mirothinker_1.7_keep5_max200', maxTurns: 50, keep: 5, release: '1.7' });
    expect(harness.sources.maxTurns).toBe('--max-turns');
    expect(harness.sources.keep).toContain('mirothinker_1.7_keep5_max200');
    expect(harness.sources.agentConfig).toContain('MiroThinker-1.7-mini');
    expect(attemptsOf(harness)).toBe(6);
    expect(describeHarness(harness)).toBe(
      'agent config mirothinker_1.7_keep5_max200 (chosen for model "MiroThinker-1.7-mini"): 50 turns, keep 5 tool results, 6 attempts, each attempt from the task alone',
    );
  });

  it('refuses an unknown name with the list of valid ones', () => {
    expect(() => resolveHarness({ name: 'mirothinker_2.0', model: '' })).toThrow(/Unknown agent config "mirothinker_2.0"/);
    try {
      resolveHarness({ name: 'mirothinker_2.0', model: '' });
    } catch (error) {
      expect((error as { hint?: string }).hint).toContain('mirothinker_1.7_keep5_max300');
    }
  });

  it('fathom agent --print-agent-config prints the settings in force and their sources', () => {
    const out = execFileSync(process.execPath, [FATHOM_BIN, 'agent', '--print-agent-config', '--model', 'miromind-ai/MiroThinker-v1.5-30B', '--keep', '3'], { encoding: 'utf8', env: { ...process.env, FATHOM_MODEL: '' } });
    expect(out).toMatch(/^agent config +mirothinker_v1\.5_keep5_max200 +chosen for model "miromind-ai\/MiroThinker-v1\.5-30B"$/m);
    expect(out).toMatch(/^max turns +200 +agent config mirothinker_v1\.5_keep5_max200/m);
    expect(out).toMatch(/^keep tool results +3 +--keep$/m);
    expect(out).toMatch(/^attempts +6 \(context_compress_limit 5\)/m);
    expect(out).toMatch(/^temperature +1 +MiroThinker conf\/llm\/qwen-3\.yaml$/m);
    expect(out).toMatch(/^model +miromind-ai\/MiroThinker-v1\.5-30B +FATHOM_MODEL$/m);
    const unknown = (() => {
      try {
        execFileSync(process.execPath, [FATHOM_BIN, 'agent', '--print-agent-config', '--agent-config', 'nope'], { encoding: 'utf8', stdio: 'pipe' });
        return '';
      } catch (error) {
        return String((error as { stderr?: string }).stderr);
      }
    })();
    expect(unknown).toContain('mirothinker_1.7_keep5_max200');
    // Its switches take --x, --x true|false, --x=true|false and --no-x, like every fathom option.
    for (const form of [['--print-agent-config', 'true'], ['--print-agent-config=true']]) {
      expect(execFileSync(process.execPath, [FATHOM_BIN, 'agent', ...form, '--model', 'MiroThinker-1.7'], { encoding: 'utf8' })).toMatch(/^agent config +mirothinker_1\.7_keep5_max200/);
    }
    for (const form of [['--print-agent-config', 'false'], ['--print-agent-config=false'], ['--no-print-agent-config']]) {
      const refused = (() => {
        try {
          execFileSync(process.execPath, [FATHOM_BIN, 'agent', ...form, '--model', 'm'], { encoding: 'utf8', stdio: 'pipe' });
          return '';
        } catch (error) {
          return String((error as { stderr?: string }).stderr);
        }
      })();
      expect(refused).toContain('No task given');
    }
    expect(execFileSync(process.execPath, [FATHOM_BIN, 'agent', '--help'], { encoding: 'utf8' })).toMatch(/--verbose \[true\|false\]/);
  });
});

describe('the servers each agent config runs', () => {
  const prompt = (agentConfig: string) =>
    execFileSync(process.execPath, [FATHOM_BIN, 'agent', '--print-system-prompt', '--agent-config', agentConfig, '--date', '2026-01-15'], { encoding: 'utf8', env: { ...process.env, FATHOM_MODEL: '' } }).replace(/\n$/, '');

  it('serves the v1.0 configs with MiroThinker v1.0\'s tool listing, the others with the current one', () => {
    expect(prompt('mirothinker_v1.0')).toBe(readFileSync(new URL('./fixtures/system-prompt-v1.0-2026-01-15.txt', import.meta.url), 'utf8'));
    expect(prompt('mirothinker_1.7_keep5_max200')).toBe(readFileSync(new URL('./fixtures/system-prompt-2026-01-15.txt', import.meta.url), 'utf8'));
  }, 60_000);
});

describe('tool-call tolerance', () => {
  const servers: ServerTools[] = [
    { server: 'tool-python', tools: [{ name: 'run_python_code', description: '', inputSchema: {} }, { name: 'create_sandbox', description: '', inputSchema: {} }] },
    { server: 'search_and_scrape_webpage', tools: [{ name: 'google_search', description: '', inputSchema: {} }] },
    { server: 'a', tools: [{ name: 'shared', description: '', inputSchema: {} }] },
    { server: 'b', tools: [{ name: 'shared', description: '', inputSchema: {} }] },
  ];
  const block = (server: string, tool: string) => `<use_mcp_tool>\n<server_name>${server}</server_name>\n<tool_name>${tool}</tool_name>\n<arguments>\n{}\n</arguments>\n</use_mcp_tool>`;

  it('puts a wrong server right when the tool belongs to exactly one server', () => {
    expect(correctToolNames(`x ${block('search', 'google_search')}`, servers)).toBe(`x ${block('search_and_scrape_webpage', 'google_search')}`);
    expect(correctToolNames(block('c', 'shared'), servers)).toBe(block('c', 'shared'));
    expect(correctToolNames(block('a', 'shared'), servers)).toBe(block('a', 'shared'));
  });

  it('renames python and python_code to run_python_code where only that exists', () => {
    expect(correctToolNames(block('tool-python', 'python'), servers)).toBe(block('tool-python', 'run_python_code'));
    expect(correctToolNames(block('python', 'python_code'), servers)).toBe(block('tool-python', 'run_python_code'));
    const withPython = [...servers, { server: 'p', tools: [{ name: 'python', description: '', inputSchema: {} }] }];
    expect(correctToolNames(block('p', 'python'), withPython)).toBe(block('p', 'python'));
  });

  it('renames code to code_block and description to info_to_extract', () => {
    expect(fixArguments({ server: 'tool-python', tool: 'run_python_code', arguments: { code: 'print(1)', sandbox_id: 's' } }).arguments).toEqual({ code_block: 'print(1)', sandbox_id: 's' });
    expect(fixArguments({ server: 'j', tool: 'scrape_and_extract_info', arguments: { url: 'u', description: 'd' } }).arguments).toEqual({ url: 'u', info_to_extract: 'd' });
    expect(fixArguments({ server: 'tool-python', tool: 'run_python_code', arguments: { code_block: 'x' } }).arguments.sandbox_id).toBe('default');
  });

  it('lets a repeated query run at the rollback limit', () => {
    const history = { succeededQueries: new Set(['q']), succeededScrapes: new Set<string>() };
    const turn = { text: '', calls: [{ server: 's', tool: 'google_search', arguments: { q: 'q' } }], malformed: false };
    expect(rollbackReason(turn, history)).toContain('repeated google_search query');
    expect(rollbackReason(turn, history, { allowRepeats: true })).toBeUndefined();
  });
});

describe('failure summary extraction', () => {
  it('takes the text after the thinking and before a tool call, else the thinking', () => {
    expect(extractFailureSummary('<think>\nplan\n</think>\n\nFailure type: blocked\n\n<use_mcp_tool>x')).toBe('Failure type: blocked');
    expect(extractFailureSummary('<think>\nonly thought\n</think>\n\n  ')).toBe('only thought');
    expect(extractFailureSummary('plain')).toBe('plain');
  });
});
