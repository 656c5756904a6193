import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FathomError, isFathomError } from '@fathom/core';
import { MODEL_DEFAULTS, defaultAgentConfig, describeEntry, loadAgentConfig, modelSettings, serverEnvironment } from '../src/config.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fathom-agent-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(content: unknown, name = 'agent.json'): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

function failure(run: () => unknown): FathomError {
  try {
    run();
  } catch (error) {
    if (error instanceof FathomError) return error;
    throw error;
  }
  throw new Error('expected a FathomError');
}

describe('loadAgentConfig', () => {
  it('reads stdio and HTTP entries, in file order, with tool lists, disabled flags and model settings', () => {
    const path = file({
      mcpServers: {
        'tool-python': { command: 'node', args: ['fathom.js', 'python-sandbox'], env: { FATHOM_LOG_LEVEL: 'warn' }, cwd: '/tmp', tools: { deny: ['run_command'] } },
        remote: { type: 'http', url: 'https://tools.example.com/mcp', headers: { Authorization: 'Bearer x' }, tools: { allow: ['google_search'] } },
        off: { command: 'node', disabled: true },
      },
      model: { baseUrl: 'http://127.0.0.1:30000/v1', model: 'miromind-ai/MiroThinker-v1.5-30B', temperature: 0.6 },
      inputs: ['ignored: other hosts keep their own keys here'],
    });
    const config = loadAgentConfig(path, {});
    expect(Object.keys(config.mcpServers)).toEqual(['tool-python', 'remote', 'off']);
    expect(config.mcpServers['tool-python']).toEqual({
      command: 'node',
      args: ['fathom.js', 'python-sandbox'],
      env: { FATHOM_LOG_LEVEL: 'warn' },
      cwd: '/tmp',
      tools: { deny: ['run_command'] },
    });
    expect(config.mcpServers.remote).toEqual({
      type: 'http',
      url: 'https://tools.example.com/mcp',
      headers: { Authorization: 'Bearer x' },
      tools: { allow: ['google_search'] },
    });
    expect(config.mcpServers.off).toEqual({ command: 'node', args: [], env: {}, disabled: true });
    expect(config.model).toEqual({ baseUrl: 'http://127.0.0.1:30000/v1', model: 'miromind-ai/MiroThinker-v1.5-30B', temperature: 0.6 });
    expect(describeEntry(config.mcpServers['tool-python']!)).toBe('node fathom.js python-sandbox');
    expect(describeEntry(config.mcpServers.remote!)).toBe('https://tools.example.com/mcp');
  });

  it('reads FATHOM_AGENT_CONFIG when no path is given, and gives undefined when neither is', () => {
    const path = file({ mcpServers: { a: { command: 'x' } } });
    expect(loadAgentConfig(undefined, { FATHOM_AGENT_CONFIG: path })?.mcpServers).toHaveProperty('a');
    expect(loadAgentConfig(undefined, {})).toBeUndefined();
  });

  it('fills ${VAR} and ${VAR:-default} from the environment in server entries', () => {
    const path = file({
      mcpServers: {
        remote: { url: '${TOOLS_URL}/mcp', headers: { Authorization: 'Bearer ${TOOLS_TOKEN}' } },
        local: { command: '${NODE:-node}', args: ['--port', '${PORT:-8931}'], env: { KEY: '${KEY}' } },
      },
    });
    const config = loadAgentConfig(path, { TOOLS_URL: 'http://127.0.0.1:8931', TOOLS_TOKEN: 't0k', KEY: 'k', PORT: '9000' });
    expect(config.mcpServers.remote).toMatchObject({ url: 'http://127.0.0.1:8931/mcp', headers: { Authorization: 'Bearer t0k' } });
    expect(config.mcpServers.local).toMatchObject({ command: 'node', args: ['--port', '9000'], env: { KEY: 'k' } });
    const error = failure(() => loadAgentConfig(path, { TOOLS_URL: 'http://127.0.0.1:8931', KEY: 'k' }));
    expect(error.code).toBe('invalid_config');
    expect(error.message).toContain('mcpServers.remote.headers.Authorization: ${TOOLS_TOKEN} is not set in the environment');
  });

  it.each([
    ['a wrong type', { mcpServers: { 'tool-python': { command: 'node', args: 'fathom.js' } } }, 'mcpServers.tool-python.args'],
    ['a misspelt key', { mcpServers: { files: { command: 'node', arg: ['x'] } } }, 'mcpServers.files: Unrecognized key: "arg"'],
    ['an entry with neither command nor url', { mcpServers: { empty: {} } }, 'mcpServers.empty: needs "command" (a stdio server) or "url" (an HTTP server)'],
    ['a URL that is not http(s)', { mcpServers: { remote: { url: 'ftp://example.com/mcp' } } }, 'mcpServers.remote.url: expected an http(s) URL'],
    ['an SSE entry', { mcpServers: { remote: { type: 'sse', url: 'http://example.com/sse' } } }, 'mcpServers.remote.type'],
    ['a bad tool list', { mcpServers: { a: { command: 'x', tools: { allow: 'google_search' } } } }, 'mcpServers.a.tools.allow'],
    ['no mcpServers', { servers: {} }, 'mcpServers'],
    ['a bad model setting', { mcpServers: {}, model: { temperature: 'hot' } }, 'model.temperature'],
    ['an unknown model setting', { mcpServers: {}, model: { top_p: 0.9 } }, 'model: Unrecognized key: "top_p"'],
  ])('rejects %s with invalid_config naming the key path and the file', (_what, content, path) => {
    const at = file(content);
    const error = failure(() => loadAgentConfig(at, {}));
    expect(error.code).toBe('invalid_config');
    expect(error.message).toContain(at);
    expect(error.message).toContain(path);
  });

  it('lists every problem of a file at once', () => {
    const error = failure(() => loadAgentConfig(file({ mcpServers: { a: { command: 1 }, b: { url: 'nope' } }, model: { retries: 0 } }), {}));
    expect(error.message).toContain('mcpServers.a.command');
    expect(error.message).toContain('mcpServers.b.url');
    expect(error.message).toContain('model.retries');
  });

  it('rejects a file that is not JSON, naming it', () => {
    const at = file('{ "mcpServers": { ', 'broken.json');
    const error = failure(() => loadAgentConfig(at, {}));
    expect(error.code).toBe('invalid_config');
    expect(error.message).toContain(at);
    expect(error.message).toContain('not valid JSON');
  });

  it('says so when the file is missing', () => {
    const error = failure(() => loadAgentConfig(join(dir, 'nowhere.json'), {}));
    expect(isFathomError(error, 'not_found')).toBe(true);
    expect(error.message).toContain(join(dir, 'nowhere.json'));
  });
});

describe('defaultAgentConfig', () => {
  it("runs Fathom's servers over stdio under the names MiroThinker knows, in the order its prompt lists them", () => {
    const config = defaultAgentConfig({ fathomBin: '/opt/fathom/bin/fathom.js' });
    expect(config.mcpServers).toEqual({
      'tool-python': { command: process.execPath, args: ['/opt/fathom/bin/fathom.js', 'python-sandbox', '--profile', 'mirothinker', '--endpoint', 'tool-python'], env: {} },
      search_and_scrape_webpage: {
        command: process.execPath,
        args: ['/opt/fathom/bin/fathom.js', 'search', '--profile', 'mirothinker', '--endpoint', 'search_and_scrape_webpage'],
        env: {},
      },
      jina_scrape_llm_summary: {
        command: process.execPath,
        args: ['/opt/fathom/bin/fathom.js', 'search', '--profile', 'mirothinker', '--endpoint', 'jina_scrape_llm_summary'],
        env: {},
      },
    });
    expect(Object.keys(config.mcpServers)).toEqual(['tool-python', 'search_and_scrape_webpage', 'jina_scrape_llm_summary']);
    expect(config.model).toBeUndefined();
  });

  it('adds the browser and files servers in the default profile', () => {
    const config = defaultAgentConfig({ fathomBin: 'fathom.js', extras: ['browser', 'files'] });
    expect(Object.keys(config.mcpServers)).toEqual(['tool-python', 'search_and_scrape_webpage', 'jina_scrape_llm_summary', 'fathom-browser', 'fathom-files']);
    expect(config.mcpServers['fathom-browser']).toEqual({ command: process.execPath, args: ['fathom.js', 'browser'], env: {} });
    expect(config.mcpServers['fathom-files']).toEqual({ command: process.execPath, args: ['fathom.js', 'files'], env: {} });
  });
});

describe('modelSettings', () => {
  const endpoint = { FATHOM_MODEL_BASE_URL: 'http://127.0.0.1:30000/v1/', FATHOM_MODEL: 'miromind-ai/MiroThinker-v1.0-8B' };

  it("uses MiroThinker's settings by default", () => {
    expect(modelSettings(undefined, endpoint)).toEqual({
      baseUrl: 'http://127.0.0.1:30000/v1',
      model: 'miromind-ai/MiroThinker-v1.0-8B',
      temperature: 1.0,
      topP: 0.95,
      maxTokens: 16_384,
      repetitionPenalty: 1.05,
      contextTokens: 262_144,
      timeoutMs: 600_000,
      retries: 10,
    });
    expect(MODEL_DEFAULTS.retries).toBe(10);
  });

  it('takes the file, with the environment over it for the endpoint, model and key', () => {
    const config = {
      mcpServers: {},
      model: { baseUrl: 'https://llm.example.com/v1', model: 'file-model', apiKey: 'file-key', temperature: 0.6, topP: 0.9, maxTokens: 8192, repetitionPenalty: 1.1, contextTokens: 131_072, timeoutSeconds: 120, retries: 3 },
    };
    expect(modelSettings(config, {})).toEqual({
      baseUrl: 'https://llm.example.com/v1',
      model: 'file-model',
      apiKey: 'file-key',
      temperature: 0.6,
      topP: 0.9,
      maxTokens: 8192,
      repetitionPenalty: 1.1,
      contextTokens: 131_072,
      timeoutMs: 120_000,
      retries: 3,
    });
    expect(modelSettings(config, { ...endpoint, FATHOM_MODEL_API_KEY: 'env-key' })).toMatchObject({
      baseUrl: 'http://127.0.0.1:30000/v1',
      model: 'miromind-ai/MiroThinker-v1.0-8B',
      apiKey: 'env-key',
      temperature: 0.6,
    });
  });

  it('says which variable to set when the endpoint or the model is missing', () => {
    const noUrl = failure(() => modelSettings(undefined, { FATHOM_MODEL: 'm' }));
    expect(noUrl.code).toBe('invalid_config');
    expect(noUrl.message).toContain('FATHOM_MODEL_BASE_URL');
    const noModel = failure(() => modelSettings(undefined, { FATHOM_MODEL_BASE_URL: 'http://127.0.0.1:30000/v1' }));
    expect(noModel.code).toBe('invalid_config');
    expect(noModel.message).toContain('set FATHOM_MODEL ');
    const badUrl = failure(() => modelSettings(undefined, { FATHOM_MODEL_BASE_URL: '127.0.0.1:30000', FATHOM_MODEL: 'm' }));
    expect(badUrl.message).toContain('FATHOM_MODEL_BASE_URL is not an http(s) URL');
  });

  it('leaves the API key out when there is none', () => {
    expect(modelSettings(undefined, endpoint)).not.toHaveProperty('apiKey');
  });
});

describe('serverEnvironment', () => {
  it("passes Fathom's settings (the shared cache's URL too) and provider keys on, but not the agent's own model settings or anything else", () => {
    const picked = serverEnvironment({
      FATHOM_CACHE_PATH: '/tmp/cache.sqlite',
      FATHOM_CACHE_URL: 'redis://10.0.0.5:6379/1',
      FATHOM_SEARCH_PROVIDERS: 'serper,duckduckgo',
      SERPER_API_KEY: 's',
      JINA_API_KEY: 'j',
      SUMMARY_LLM_BASE_URL: 'http://127.0.0.1:8000/v1',
      FATHOM_MODEL_API_KEY: 'secret',
      FATHOM_MODEL_BASE_URL: 'http://x/v1',
      FATHOM_AGENT_CONFIG: '/etc/agent.json',
      AWS_SECRET_ACCESS_KEY: 'no',
      HOME: '/home/me',
    });
    expect(picked).toEqual({
      FATHOM_CACHE_PATH: '/tmp/cache.sqlite',
      FATHOM_CACHE_URL: 'redis://10.0.0.5:6379/1',
      FATHOM_SEARCH_PROVIDERS: 'serper,duckduckgo',
      SERPER_API_KEY: 's',
      JINA_API_KEY: 'j',
      SUMMARY_LLM_BASE_URL: 'http://127.0.0.1:8000/v1',
    });
  });
});
