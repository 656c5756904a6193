import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { baseConfigSchema, describeConfig, envName, flagName, loadConfig } from '../src/config.js';
import type { LoadConfigOptions } from '../src/config.js';
import { FathomError } from '../src/errors.js';
import { parseFlags } from '../src/serve.js';

const schema = baseConfigSchema.extend({
  serperApiKey: z.string().min(1).optional().describe('Serper key'),
  maxResults: z.number().int().positive().default(10).describe('Most results per search'),
  verbose: z.boolean().default(false).describe('Say more'),
  engines: z.array(z.string()).default(['duckduckgo']).describe('Engines to ask'),
});
const envAliases = { serperApiKey: ['SERPER_API_KEY'] };

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh working directory, with `fathom.config.json` holding `file` when given. */
function workdir(file?: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'fathom-config-'));
  dirs.push(dir);
  if (file !== undefined) writeFileSync(join(dir, 'fathom.config.json'), typeof file === 'string' ? file : JSON.stringify(file));
  return dir;
}

function load(cwd: string, options: Partial<LoadConfigOptions> & { argv?: string[] } = {}) {
  const { argv = [], ...rest } = options;
  return loadConfig(schema, { server: 'search', env: {}, cwd, envAliases, flags: parseFlags(argv, schema), ...rest });
}

function configError(fn: () => unknown): FathomError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FathomError);
    expect((error as FathomError).code).toBe('invalid_config');
    return error as FathomError;
  }
  throw new Error('expected a configuration error');
}

describe('names', () => {
  it('derives environment and flag names from keys', () => {
    expect(envName('maxResults')).toBe('FATHOM_MAX_RESULTS');
    expect(envName('allowPrivateNetwork')).toBe('FATHOM_ALLOW_PRIVATE_NETWORK');
    expect(flagName('maxResults')).toBe('max-results');
    expect(flagName('port')).toBe('port');
  });
});

describe('loadConfig precedence', () => {
  it('uses the defaults when nothing is set', () => {
    const config = load(workdir());
    expect(config).toMatchObject({
      transport: 'stdio',
      host: '127.0.0.1',
      profile: 'default',
      maxResults: 10,
      verbose: false,
      engines: ['duckduckgo'],
      allowedHosts: [],
    });
    expect(config.port).toBeUndefined();
    expect(config.serperApiKey).toBeUndefined();
  });

  it('layers defaults < file < environment < flags, key by key', () => {
    const cwd = workdir({
      port: 1000,
      host: '0.0.0.0',
      logLevel: 'warn',
      servers: { search: { maxResults: 20, engines: ['searxng'] }, browser: { headless: true } },
    });
    expect(load(cwd)).toMatchObject({ port: 1000, host: '0.0.0.0', logLevel: 'warn', maxResults: 20, engines: ['searxng'] });

    const env = { FATHOM_PORT: '2000', FATHOM_MAX_RESULTS: '30' };
    expect(load(cwd, { env })).toMatchObject({ port: 2000, host: '0.0.0.0', maxResults: 30, engines: ['searxng'] });

    const config = load(cwd, { env, argv: ['--port', '3000', '--log-level=debug'] });
    expect(config).toMatchObject({
      port: 3000, // flag beats environment and file
      maxResults: 30, // environment beats file
      engines: ['searxng'], // file beats default
      host: '0.0.0.0',
      logLevel: 'debug', // flag beats file
      transport: 'stdio', // default
    });
  });

  it("lets a server's section override the shared top-level keys", () => {
    const cwd = workdir({ profile: 'default', servers: { search: { profile: 'mirothinker' }, files: { profile: 'default' } } });
    expect(load(cwd).profile).toBe('mirothinker');
  });

  it('ignores sections of other servers and empty environment values', () => {
    const cwd = workdir({ servers: { browser: { anything: 1 } } });
    expect(load(cwd, { env: { FATHOM_MAX_RESULTS: '', FATHOM_HOST: '' } })).toMatchObject({ maxResults: 10, host: '127.0.0.1' });
  });

  it('reads another file from --config (relative to cwd) or FATHOM_CONFIG', () => {
    const cwd = workdir({ port: 1 });
    mkdirSync(join(cwd, 'conf'));
    writeFileSync(join(cwd, 'conf', 'alt.json'), JSON.stringify({ port: 4242, servers: { search: { verbose: true } } }));
    expect(load(cwd, { argv: ['--config', 'conf/alt.json'] })).toMatchObject({ port: 4242, verbose: true });
    expect(load(cwd, { env: { FATHOM_CONFIG: join(cwd, 'conf', 'alt.json') } }).port).toBe(4242);
  });

  it('reads providers\' standard environment names through envAliases', () => {
    const cwd = workdir();
    expect(load(cwd, { env: { SERPER_API_KEY: 'from-alias' } }).serperApiKey).toBe('from-alias');
    expect(load(cwd, { env: { SERPER_API_KEY: 'from-alias', FATHOM_SERPER_API_KEY: 'from-fathom' } }).serperApiKey).toBe(
      'from-fathom',
    );
    expect(load(cwd, { env: { SERPER_API_KEY: 'from-alias' }, argv: ['--serper-api-key', 'from-flag'] }).serperApiKey).toBe(
      'from-flag',
    );
    // Without the alias the standard name means nothing.
    expect(loadConfig(schema, { server: 'search', env: { SERPER_API_KEY: 'x' }, cwd }).serperApiKey).toBeUndefined();
  });
});

describe('string coercion', () => {
  it('reads numbers, booleans and comma-separated arrays from the environment', () => {
    const config = load(workdir(), {
      env: {
        FATHOM_MAX_RESULTS: '25',
        FATHOM_VERBOSE: 'yes',
        FATHOM_ALLOW_PRIVATE_NETWORK: 'true',
        FATHOM_ENGINES: 'serper, brave,,tavily ',
        FATHOM_SESSION_IDLE_MINUTES: '0.5',
      },
    });
    expect(config.maxResults).toBe(25);
    expect(config.verbose).toBe(true);
    expect(config.allowPrivateNetwork).toBe(true);
    expect(config.engines).toEqual(['serper', 'brave', 'tavily']);
    expect(config.sessionIdleMinutes).toBe(0.5);

    expect(load(workdir(), { env: { FATHOM_VERBOSE: 'off', FATHOM_ALLOW_PRIVATE_NETWORK: '0' } })).toMatchObject({
      verbose: false,
      allowPrivateNetwork: false,
    });
  });

  it('reads numbers, booleans and arrays from flags', () => {
    const config = load(workdir(), {
      argv: ['--max-results', '7', '--verbose', '--engines=a,b', '--allowed-hosts', 'x.test', '--no-allow-private-network'],
      env: { FATHOM_ALLOW_PRIVATE_NETWORK: '1' },
    });
    expect(config).toMatchObject({
      maxResults: 7,
      verbose: true,
      engines: ['a', 'b'],
      allowedHosts: ['x.test'],
      allowPrivateNetwork: false,
    });
    expect(load(workdir(), { argv: ['--verbose=false'] }).verbose).toBe(false);
  });
});

describe('renamed keys', () => {
  it('reads the egress allow list as --egress-allow, FATHOM_EGRESS_ALLOW and egressAllow, with no warning', () => {
    const warnings: string[] = [];
    const warn = (line: string) => warnings.push(line);
    expect(load(workdir(), { argv: ['--egress-allow', '10.0.0.0/8,db.internal'], warn }).egressAllow).toEqual(['10.0.0.0/8', 'db.internal']);
    expect(load(workdir(), { env: { FATHOM_EGRESS_ALLOW: '127.0.0.1' }, warn }).egressAllow).toEqual(['127.0.0.1']);
    expect(load(workdir({ servers: { search: { egressAllow: ['10.1.2.3'] } } }), { warn }).egressAllow).toEqual(['10.1.2.3']);
    expect(warnings).toEqual([]);
  });

  it('still reads --allow-hosts, FATHOM_ALLOW_HOSTS and allowHosts, each with a one-line deprecation warning', () => {
    const warnings: string[] = [];
    const warn = (line: string) => warnings.push(line);
    expect(load(workdir(), { argv: ['--allow-hosts', '127.0.0.1'], warn }).egressAllow).toEqual(['127.0.0.1']);
    expect(warnings).toEqual(['--allow-hosts is deprecated: it is now --egress-allow (outbound requests; --allowed-hosts is the HTTP Host header check)']);
    expect(load(workdir(), { argv: ['--allow-hosts=10.0.0.1'], warn }).egressAllow).toEqual(['10.0.0.1']);

    warnings.length = 0;
    expect(load(workdir(), { env: { FATHOM_ALLOW_HOSTS: '10.0.0.2' }, warn }).egressAllow).toEqual(['10.0.0.2']);
    expect(warnings).toEqual(['FATHOM_ALLOW_HOSTS is deprecated: it is now FATHOM_EGRESS_ALLOW (outbound requests; --allowed-hosts is the HTTP Host header check)']);
    // The new name wins, and then the old one is not read at all.
    warnings.length = 0;
    expect(load(workdir(), { env: { FATHOM_ALLOW_HOSTS: 'old', FATHOM_EGRESS_ALLOW: 'new' }, warn }).egressAllow).toEqual(['new']);
    expect(warnings).toEqual([]);

    const cwd = workdir({ allowHosts: ['10.0.0.3'], servers: { search: { allowHosts: ['10.0.0.4'] } } });
    expect(load(cwd, { warn }).egressAllow).toEqual(['10.0.0.4']);
    expect(warnings).toEqual([
      `"allowHosts" in ${join(cwd, 'fathom.config.json')} is deprecated: it is now "egressAllow" (outbound requests; --allowed-hosts is the HTTP Host header check)`,
      `"servers.search.allowHosts" in ${join(cwd, 'fathom.config.json')} is deprecated: it is now "egressAllow" (outbound requests; --allowed-hosts is the HTTP Host header check)`,
    ]);
    expect(load(workdir(), {}).egressAllow).toEqual([]);
    expect('allowHosts' in load(workdir(), { argv: ['--allow-hosts', 'x'], warn })).toBe(false);
  });
});

describe('loadConfig errors', () => {
  it('names the key, the environment variable and the accepted values for a bad enum', () => {
    const error = configError(() => load(workdir(), { env: { FATHOM_TRANSPORT: 'tcp' } }));
    expect(error.message).toContain('"transport"');
    expect(error.message).toContain('environment variable FATHOM_TRANSPORT');
    expect(error.message).toContain('"tcp"');
    expect(error.hint).toContain('stdio | http');
  });

  it('names the option for a bad flag value', () => {
    const notANumber = configError(() => load(workdir(), { argv: ['--port', 'eighty'] }));
    expect(notANumber.message).toContain('"port"');
    expect(notANumber.message).toContain('option --port');
    expect(notANumber.message).toContain('(got "eighty")');
    expect(notANumber.hint).toContain('"port" accepts: number');

    const tooBig = configError(() => load(workdir(), { argv: ['--port=70000'] }));
    expect(tooBig.message).toContain('option --port');
    expect(tooBig.message).toContain('70000');

    const profile = configError(() => load(workdir(), { argv: ['--profile', 'claude'] }));
    expect(profile.message).toContain('option --profile');
    expect(profile.hint).toContain('default | mirothinker');
  });

  it('shows neither a secret nor the password in a URL it refuses', () => {
    const url = configError(() => load(workdir(), { argv: ['--cache-url', 'http://user:s3cret@cache-host:6379/0'] }));
    expect(url.message).toContain('(got "http://user:***@cache-host:6379/0")');
    expect(url.message).not.toContain('s3cret');
    const token = configError(() => load(workdir(), { env: { FATHOM_TOKEN: '' }, argv: ['--token', ''] }));
    expect(token.message).toContain('(got a value of 0 characters, not shown)');
  });

  it('names the file for a bad value in the file', () => {
    const cwd = workdir({ servers: { search: { maxResults: -3 } } });
    const error = configError(() => load(cwd));
    expect(error.message).toContain('"maxResults"');
    expect(error.message).toContain(join(cwd, 'fathom.config.json'));
    expect(error.message).toContain('servers.search');
  });

  it('refuses a bad boolean rather than guessing', () => {
    const error = configError(() => load(workdir(), { env: { FATHOM_VERBOSE: 'maybe' } }));
    expect(error.message).toContain('"verbose"');
    expect(error.message).toContain('FATHOM_VERBOSE');
  });

  it('refuses an unknown top-level key in the file', () => {
    const cwd = workdir({ maxResults: 5 });
    const error = configError(() => load(cwd));
    expect(error.message).toContain('Unknown key "maxResults" at the top of');
    expect(error.hint).toContain('"servers": { "search"');
  });

  it("refuses an unknown key in the server's section", () => {
    const error = configError(() => load(workdir({ servers: { search: { maxResult: 5 } } })));
    expect(error.message).toContain('Unknown key "servers.search.maxResult"');
    expect(error.hint).toContain('maxResults');
  });

  it('refuses a server section that is not an object', () => {
    const error = configError(() => load(workdir({ servers: { search: 5 } })));
    expect(error.message).toContain('"servers.search"');
  });

  it('refuses an unknown flag', () => {
    const error = configError(() => load(workdir(), { argv: ['--max-result', '5'] }));
    expect(error.message).toBe('Unknown option --max-result');
    expect(error.hint).toContain('--max-results');
  });

  it('refuses a malformed JSON file and a file that is not an object', () => {
    const malformed = workdir('{ "port": 80, }');
    const error = configError(() => load(malformed));
    expect(error.message).toContain('Cannot read');
    expect(error.message).toContain(join(malformed, 'fathom.config.json'));

    expect(configError(() => load(workdir('[1, 2]'))).message).toContain('must hold a JSON object');
  });

  it('refuses --config pointing to a missing file', () => {
    const cwd = workdir();
    const error = configError(() => load(cwd, { argv: ['--config', 'missing.json'] }));
    expect(error.message).toBe(`Config file not found: ${join(cwd, 'missing.json')}`);
  });
});

describe('parseFlags', () => {
  it('adds a list option given more than once to the list, and keeps the last of any other', () => {
    const flags = parseFlags(['--egress-allow', '10.0.0.1', '--port', '1', '--egress-allow=10.0.0.2,10.0.0.3', '--port', '2'], schema);
    expect(flags).toEqual({ 'egress-allow': '10.0.0.1,10.0.0.2,10.0.0.3', port: '2' });
    expect(load(workdir(), { argv: ['--egress-allow', '10.0.0.1', '--egress-allow', '10.0.0.2'] }).egressAllow).toEqual(['10.0.0.1', '10.0.0.2']);
  });

  it('reads --key value, --key=value, --flag and --no-flag', () => {
    expect(
      parseFlags(['--port', '8080', '--host=0.0.0.0', '--verbose', '--no-allow-private-network', '--token=a=b'], schema),
    ).toEqual({ port: '8080', host: '0.0.0.0', verbose: true, 'allow-private-network': false, token: 'a=b' });
  });

  it('lets a boolean flag take the next word only when it is true or false', () => {
    expect(parseFlags(['--verbose', '--max-results', '3'], schema)).toEqual({ verbose: true, 'max-results': '3' });
    expect(parseFlags(['--verbose', 'false', '--allow-private-network', 'true'], schema)).toEqual({ verbose: false, 'allow-private-network': true });
    expect(parseFlags(['--verbose', 'No', '--allow-private-network', '1'], schema)).toEqual({ verbose: false, 'allow-private-network': true });
    const error = configError(() => parseFlags(['--verbose', 'maybe'], schema));
    expect(error.message).toBe('Option --verbose takes true or false (got "maybe")');
    expect(error.hint).toBe('Write --verbose, --verbose true|false, --verbose=true|false or --no-verbose.');
    expect(configError(() => parseFlags(['--no-verbose=true'], schema)).message).toBe('Option --no-verbose takes no value (got "true")');
  });

  it('names the forms a boolean takes when its value is bad', () => {
    const error = configError(() => load(workdir(), { argv: ['--verbose=maybe'] }));
    expect(error.message).toContain('option --verbose');
    expect(error.hint).toContain('--verbose true|false');
    expect(error.hint).toContain('--no-verbose');
  });

  it('keeps an empty inline value', () => {
    expect(parseFlags(['--token='], schema)).toEqual({ token: '' });
  });

  it('refuses an option without a value', () => {
    const atEnd = configError(() => parseFlags(['--port'], schema));
    expect(atEnd.message).toBe('Option --port needs a value');
    expect(configError(() => parseFlags(['--port', '--verbose'], schema)).message).toBe('Option --port needs a value');
  });

  it('refuses a stray positional argument', () => {
    const error = configError(() => parseFlags(['--port', '1', 'extra'], schema));
    expect(error.message).toBe('Unexpected argument "extra"');
    expect(error.hint).toContain('--port');
  });
});

describe('describeConfig', () => {
  it('lists every key as a flag with its type, meaning and environment names', () => {
    const lines = describeConfig(schema, envAliases).map(([term, description]) => `  ${term}  ${description}`);
    expect(lines).toHaveLength(Object.keys(schema.shape).length);
    const line = (flag: string) => lines.find((l) => l.trimStart().startsWith(`--${flag} `));
    expect(line('transport')).toMatch(/--transport <stdio \| http>.*How clients connect.*\[FATHOM_TRANSPORT\]/);
    expect(line('serper-api-key')).toContain('[FATHOM_SERPER_API_KEY, SERPER_API_KEY]');
    expect(line('max-results')).toMatch(/<number>.*Most results per search/);
    expect(line('verbose')).toMatch(/--verbose \[true\|false\].*--no-verbose for false/);
    expect(line('engines')).toContain('<array>');
  });
});
