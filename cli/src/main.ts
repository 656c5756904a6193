import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Command, CommanderError, Help, InvalidArgumentError } from 'commander';
import { CONFIG_FILE, addBooleanOption, booleanOptionTerm, createLogger, errorLine, errorMessage, loadConfig, normalizeBooleanArgs, runMain } from '@fathom/core';
import type { BaseConfig } from '@fathom/core';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { connectStdio, renderResult, saveBinaryContent } from './call.js';
import { packageRoot } from './package-root.js';
import { HOSTS, HostConfigError, hostConfig, printedConfig } from './host-config.js';
import type { HostName, HostTransport } from './host-config.js';
import { serveAll } from './serve-all.js';
import type { ServeSettings } from './serve-all.js';
import { BASE_PORT, SERVER_NAMES, isServerName, loadDefinition } from './servers.js';
import type { ServerName } from './servers.js';

const rootDir = packageRoot();
const version = (JSON.parse(readFileSync(`${rootDir}package.json`, 'utf8')) as { version: string }).version;
const fathomBin = `${rootDir}bin/fathom.js`;

const out = (text: string) => process.stdout.write(text + '\n');
const say = (text: string) => process.stderr.write(text + '\n');

/** Usage and protocol failures exit 2; a tool's own isError exits 1. */
class UsageError extends Error {}

function serverName(value: string): ServerName {
  if (!isServerName(value)) throw new InvalidArgumentError(`choose one of ${SERVER_NAMES.join(', ')}`);
  return value;
}

function hostName(value: string): HostName {
  if (!(HOSTS as readonly string[]).includes(value)) throw new InvalidArgumentError(`choose one of ${HOSTS.join(', ')}`);
  return value as HostName;
}

function transport(value: string): HostTransport {
  if (value !== 'stdio' && value !== 'http') throw new InvalidArgumentError('choose stdio or http');
  return value;
}

function serverNames(value: string): ServerName[] {
  return value.split(',').map((name) => serverName(name.trim()));
}

function port(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > 65532) throw new InvalidArgumentError('a port from 1 to 65532');
  return parsed;
}

async function listTools(name: ServerName, profile: string) {
  const definition = await loadDefinition(name);
  const config = loadConfig(definition.configSchema, { server: name, flags: { profile } });
  const instance = await definition.createServer(config, createLogger(`fathom.${name}`, { level: 'warn' }));
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: 'fathom-cli', version });
  await instance.server.connect(serverSide);
  await client.connect(clientSide);
  const { tools } = await client.listTools();
  await client.close();
  await instance.close();
  await definition.shutdown?.();
  return tools;
}

export { BASE_PORT, SERVER_NAMES, serverPort } from './servers.js';
export type { ServerName } from './servers.js';

interface ServeCommandOptions {
  host: string;
  basePort: number;
  profile?: string;
  config?: string;
  servers: ServerName[];
  printConfig?: HostName;
  transport?: HostTransport;
}

/** What `fathom serve` runs: each server's profile and tool groups as its configuration gives them. */
async function serveSettings(options: ServeCommandOptions) {
  const config = options.config === undefined ? undefined : resolve(options.config);
  const servers: ServeSettings['settings'] = {};
  for (const name of options.servers) {
    const definition = await loadDefinition(name);
    const flags = { ...(options.profile ? { profile: options.profile } : {}), ...(config ? { config } : {}) };
    const resolved = loadConfig(definition.configSchema, { server: name, flags, ...(definition.envAliases ? { envAliases: definition.envAliases } : {}) }) as BaseConfig;
    if (resolved.port !== undefined) {
      const where = process.env.FATHOM_PORT ? 'FATHOM_PORT' : `"port" in ${config ?? CONFIG_FILE}`;
      throw new UsageError(
        `${where} sets the port of one server run alone, and fathom serve gives each server its own: ` +
          `search on --base-port (${BASE_PORT} unless given), ${SERVER_NAMES.slice(1).join(', ')} on the next ones. Remove ${where}, and pass --base-port to move them all.`,
      );
    }
    servers[name] = { profile: resolved.profile, endpoints: definition.endpoints?.(resolved) ?? [] };
  }
  return {
    servers: options.servers,
    host: options.host,
    basePort: options.basePort,
    fathomBin,
    settings: servers,
    ...(config ? { config } : {}),
    ...(options.profile ? { profile: options.profile } : {}),
  };
}

export function buildProgram(): Command {
  const program = new Command('fathom')
    .description('Fathom: MCP tool servers for research agents (search, browser, files, python-sandbox).')
    .version(version, '-v, --version')
    .showHelpAfterError()
    .enablePositionalOptions()
    .configureHelp({ optionTerm: (option) => booleanOptionTerm(option) ?? Help.prototype.optionTerm.call(new Help(), option) })
    .exitOverride();

  for (const name of SERVER_NAMES) {
    program
      .command(name)
      .description(`run the ${name} server (stdio by default; --transport http for HTTP). See: fathom ${name} --help`)
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .argument('[options...]')
      .action(async (args: string[]) => runMain(await loadDefinition(name), args));
  }

  const agentCommands = {
    agent: 'run the MiroThinker model on a task against MCP servers (see: fathom agent --help)',
    trace: 'render an agent trace as a readable timeline',
    eval: 'run a benchmark file through the agent, resumably, and score it (in this process, or on a Redis queue with --queue)',
    worker: 'take runs of `fathom eval --queue` evals from a Redis queue and run them',
  };
  // The agent client loads only when one of its commands runs, like each server (see servers.ts).
  for (const [name, description] of Object.entries(agentCommands)) {
    program
      .command(name)
      .description(description)
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .argument('[arguments...]')
      .action(async (args: string[]) => (await import('@fathom/agent/cli')).runAgentCli([name, ...args], fathomBin));
  }

  program
    .command('serve')
    .description(
      'run the servers over HTTP, each as its own process on its own port, and print the mcpServers JSON for MCP hosts. ' +
        "Each server's own options (roots, egress allow list, profile) come from the servers section of fathom.config.json",
    )
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--base-port <port>', `port of search; ${SERVER_NAMES.slice(1).join(', ')} take the next ones, whichever --servers run`, port, BASE_PORT)
    .option('--profile <profile>', "default or mirothinker for every server (default: each server's in fathom.config.json, else default)")
    .option('--config <path>', 'the config file the servers read (default: ./fathom.config.json)')
    .option('--servers <names>', `comma-separated subset of ${SERVER_NAMES.join(',')}`, serverNames, [...SERVER_NAMES])
    .option('--print-config <host>', `print the configuration to paste into ${HOSTS.join(' | ')} (where it goes on stderr), and exit`, hostName)
    .option('--transport <transport>', 'with --print-config: stdio (the host starts each server; default) or http (the servers fathom serve runs)', transport)
    .action(async (options: ServeCommandOptions) => {
      if (options.transport && !options.printConfig) throw new UsageError('--transport goes with --print-config; fathom serve itself always serves over HTTP.');
      const settings = await serveSettings(options);
      if (options.printConfig) {
        const printed = (() => {
          try {
            return printedConfig(options.printConfig, options.transport ?? 'stdio', settings, process.env.FATHOM_TOKEN);
          } catch (error) {
            if (error instanceof HostConfigError) throw new UsageError(error.message);
            throw error;
          }
        })();
        for (const note of printed.notes) say(note);
        out(JSON.stringify(printed.config, null, 2));
        return;
      }
      const running = await serveAll({ ...settings, say });
      const snippets = hostConfig(settings, process.env.FATHOM_TOKEN);
      say(`Fathom is serving ${options.servers.length} MCP servers. Paste one of these into your MCP host's config:`);
      say('\nOver HTTP (these servers, while this command runs):');
      out(JSON.stringify(snippets.http, null, 2));
      say('\nOver stdio (the host starts each server itself):');
      say(JSON.stringify(snippets.stdio, null, 2));
      say('\nPress Ctrl+C to stop.');
      const stop = () => void running.stop().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });

  const tools = program
    .command('tools')
    .description('list the tools of one server, or of all, with their descriptions')
    .argument('[server]', SERVER_NAMES.join(' | '), serverName)
    .option('--profile <profile>', 'default or mirothinker', 'default');
  addBooleanOption(tools, '--json', 'print the tools/list result as JSON')
    .action(async (server: ServerName | undefined, options: { profile: string; json?: boolean }) => {
      const names = server ? [server] : [...SERVER_NAMES];
      const all: Record<string, unknown> = {};
      for (const name of names) {
        const tools = await listTools(name, options.profile);
        if (options.json) {
          all[name] = tools;
          continue;
        }
        out(`${name} (${options.profile} profile): ${tools.length} tool${tools.length === 1 ? '' : 's'}; arguments marked ? are optional`);
        for (const tool of tools) {
          const required = tool.inputSchema.required ?? [];
          const params = Object.keys((tool.inputSchema.properties ?? {}) as object)
            .map((param) => (required.includes(param) ? param : `${param}?`))
            .join(', ');
          out(`  ${tool.name}(${params})`);
          out(`    ${(tool.description ?? '').trim().split('\n')[0]}`);
        }
      }
      if (options.json) out(JSON.stringify(server ? all[server] : all, null, 2));
    });

  const call = program
    .command('call')
    .description('start a server over stdio, call one tool through an MCP client, print the result (exit 0 ok, 1 tool error, 2 usage or protocol error)')
    .argument('<server>', SERVER_NAMES.join(' | '), serverName)
    .argument('<tool>', 'tool name (see: fathom tools <server>)')
    .argument('[arguments]', 'the tool arguments as a JSON object', '{}')
    .option('--profile <profile>', 'default or mirothinker', 'default');
  call.option('--save <dir>', 'write image and audio content to files in this folder and print their paths');
  addBooleanOption(call, '--json', 'print the structured content as JSON')
    .allowExcessArguments()
    .addHelpText('after', '\nServer options go after "--", e.g.: fathom call files list_files \'{"glob":"*.pdf"}\' -- --roots ~/papers')
    .action(async (server: ServerName, tool: string, rawArgs: string, options: { json?: boolean; profile: string; save?: string }, command: Command) => {
      let args: unknown;
      try {
        args = JSON.parse(rawArgs);
      } catch (error) {
        throw new UsageError(`The arguments are not valid JSON: ${errorMessage(error)}. Pass one JSON object, e.g. '{"path": "."}'.`);
      }
      if (typeof args !== 'object' || args === null || Array.isArray(args)) throw new UsageError('The arguments must be a JSON object.');
      const serverArgs = ['--profile', options.profile, ...command.args.slice(3).filter((arg, i) => i > 0 || arg !== '--')];
      const connection = await connectStdio(server, serverArgs).catch((error: unknown) => {
        throw new UsageError(`The ${server} server did not start: ${errorMessage(error)}`);
      });
      try {
        const result = (await connection.client.callTool({ name: tool, arguments: args as Record<string, unknown> })) as CallToolResult;
        const saved = options.save ? await saveBinaryContent(result, options.save, tool) : new Map<number, string>();
        // With --json the paths go to stderr: stdout stays one JSON document.
        if (options.json) for (const path of saved.values()) say(`saved ${path}`);
        const rendered = renderResult(result, options.json ?? false, saved);
        if (result.isError) {
          say(rendered);
          process.exitCode = 1;
        } else out(rendered);
      } catch (error) {
        const log = connection.stderr().trim();
        throw new UsageError(`The call failed: ${errorMessage(error)}${log ? `\nServer log:\n${log}` : ''}`);
      } finally {
        await connection.close();
      }
    });

  const doctor = program
    .command('doctor')
    .description('list the system parts Fathom uses, present or missing, with the command that fixes each');
  addBooleanOption(doctor, '--json', 'print the checks as JSON')
    .option('--cache-url <url>', 'check this Redis cache (default: FATHOM_CACHE_URL, or the SQLite file)')
    .action(async (options: { json?: boolean; cacheUrl?: string }) => {
      // The checks read the browser's and the sandbox's finders: loaded when the doctor runs.
      const { renderChecks, runChecks } = await import('./doctor.js');
      const checks = await runChecks(options.cacheUrl ? { cacheUrl: options.cacheUrl } : {});
      out(options.json ? JSON.stringify(checks, null, 2) : renderChecks(checks));
      if (checks.some((check) => !check.ok && check.neededBy !== 'benchmarks only')) process.exitCode = 1;
    });

  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  // A reader that stops early (`fathom tools | head`) is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  try {
    const program = buildProgram();
    await program.parseAsync(normalizeBooleanArgs(program, argv));
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode === 0 ? 0 : 2;
      return;
    }
    say(`fathom: ${errorLine(error)}`);
    process.exitCode = 2;
  }
}
