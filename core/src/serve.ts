import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { killChildren } from './children.js';
import type { ConfigSchema } from './config.js';
import { baseType, booleanForms, booleanWord, describeConfig, flagName, loadConfig } from './config.js';
import type { BaseConfig } from './config.js';
import { FathomError, errorLine, errorMessage } from './errors.js';
import { helpColumns } from './help.js';
import { createLogger } from './log.js';
import type { Logger } from './log.js';
import { startHttpHost } from './http.js';
import type { InstanceOptions } from './modern.js';
import { createToolServer } from './server.js';
import type { FathomServer } from './server.js';
import type { Tool } from './tool.js';
import { StdioTransport, serveStdioConnection } from './stdio.js';

export interface ServerDefinition<S extends ConfigSchema = ConfigSchema> {
  /** The name the CLI uses: `fathom <name>`. */
  name: string;
  title: string;
  description: string;
  version: string;
  defaultPort: number;
  configSchema: S;
  envAliases?: Record<string, readonly string[]>;
  /**
   * One MCP server instance: one per 2025-era HTTP session, one per 2026-era HTTP request, one in
   * stdio mode. `endpoint` names a subset of the tools (served over HTTP at /mcp/<endpoint>, over
   * stdio with --endpoint).
   */
  createServer(config: z.infer<S>, logger: Logger, endpoint?: string, instance?: InstanceOptions): FathomServer | Promise<FathomServer>;
  /** The named tool subsets this configuration offers. */
  endpoints?(config: z.infer<S>): string[];
  /** Releases what all instances share (a browser, a pool of kernels), once, at exit. */
  shutdown?(): Promise<void>;
  /**
   * What a client's session holds on this server (its sandboxes, its browser contexts), when it
   * holds something: such a server refuses --stateless, and behind a balancer needs affinity.
   */
  sessionState?: string;
}

export function defineServer<S extends ConfigSchema>(definition: ServerDefinition<S>): ServerDefinition<S> {
  return definition;
}

export interface ToolServerDefinition<S extends ConfigSchema, R extends SharedRuntime = SharedRuntime> extends Omit<ServerDefinition<S>, 'createServer' | 'version'> {
  /** The server package's package.json, for its version. */
  packageJson: URL;
  instructions?: string;
  /**
   * What every instance of this server shares (pools, caches, a browser, sandboxes): made at the
   * first instance for a configuration, closed once by `shutdown`.
   */
  runtime?(config: z.infer<S>, logger: Logger): R;
  /** The tools of the profile in `context.config.profile`, for one server instance. */
  tools(context: ServerContext<z.infer<S>, R>): Tool[];
  /**
   * Named subsets of those tools, e.g. the server names a model knows them under. A host can
   * then list one process under several names: /mcp/<name> over HTTP, --endpoint <name> over stdio.
   */
  toolGroups?(config: z.infer<S>): Record<string, string[] | 'all'>;
}

export interface SharedRuntime {
  close(): Promise<void>;
}

/** What a server's tools work with: passed to `tools()` for each instance, never kept in a module. */
export interface ServerContext<C, R> {
  readonly config: C;
  readonly logger: Logger;
  /** The runtime all instances of this configuration share. */
  readonly runtime: R;
  /** This instance (an MCP session, a stdio connection): what its tools make belongs to it. */
  readonly instance: InstanceScope;
}

/**
 * One MCP server instance: one client connection over stdio, one 2025-era session over HTTP, one
 * 2026-era request over HTTP. What its tools make for the client (a sandbox, a browser context)
 * belongs to it and goes when it closes.
 */
export interface InstanceScope {
  /** Unique per instance and never shown to clients: the owner of what the instance's tools make. */
  readonly id: string;
  /**
   * The instance serves one 2026-era HTTP request (that era has no sessions) and closes once it is
   * answered: what a client must reach again in a later call it reaches by a handle argument.
   */
  readonly perRequest: boolean;
  /** Runs when the instance closes: the client went away, its session ended, or the server stops. */
  onClose(release: () => Promise<void> | void): void;
}

/** A tool server with its shared runtime: what the serve loop, the CLI and tests hold. */
export interface ToolServer<S extends ConfigSchema, R extends SharedRuntime> extends ServerDefinition<S> {
  /** The runtime instances of `config` share, made on first use. */
  runtimeFor(config: z.infer<S>, logger: Logger): R;
  shutdown(): Promise<void>;
}

/** A server that is a list of tools: the MCP server name is `fathom-<name>`. */
export function defineToolServer<S extends ConfigSchema, R extends SharedRuntime = SharedRuntime>(definition: ToolServerDefinition<S, R>): ToolServer<S, R> {
  const { packageJson, tools, instructions, toolGroups, runtime: makeRuntime, shutdown, ...rest } = definition;
  const version = packageVersion(packageJson);
  // A process serves one configuration; tests and the CLI's serve-all build several, each with its own runtime.
  const runtimes = new Map<z.infer<S>, R>();
  const runtimeFor = (config: z.infer<S>, logger: Logger): R => {
    let runtime = runtimes.get(config);
    if (!runtime) runtimes.set(config, (runtime = makeRuntime ? makeRuntime(config, logger) : ({ close: async () => undefined } as unknown as R)));
    return runtime;
  };
  return {
    ...rest,
    version,
    runtimeFor,
    async shutdown() {
      const all = [...runtimes.values()];
      runtimes.clear();
      await Promise.all(all.map((runtime) => runtime.close()));
      await shutdown?.();
    },
    endpoints: (config) => Object.keys(toolGroups?.(config) ?? {}),
    createServer: (config, logger, endpoint, options) => {
      const releases: (() => Promise<void> | void)[] = [];
      const instance: InstanceScope = { id: randomUUID(), perRequest: options?.perRequest ?? false, onClose: (release) => void releases.push(release) };
      let offered = tools({ config, logger, instance, runtime: runtimeFor(config, logger) });
      if (endpoint !== undefined) {
        const group = toolGroups?.(config)[endpoint];
        if (!group) {
          const names = Object.keys(toolGroups?.(config) ?? {});
          throw new FathomError('invalid_config', `No endpoint "${endpoint}" in the ${config.profile} profile`, {
            hint: names.length ? `Use one of: ${names.join(', ')}.` : 'This profile has no endpoints: leave --endpoint out.',
          });
        }
        if (group !== 'all') offered = offered.filter((tool) => group.includes(tool.name));
      }
      return createToolServer({
        name: endpoint ?? `fathom-${definition.name}`,
        title: definition.title,
        version,
        tools: offered,
        logger,
        roots: (config as BaseConfig).roots,
        onClose: async () => {
          for (const release of releases) await Promise.resolve(release()).catch((error: unknown) => logger.warn('release failed', { error: errorMessage(error) }));
        },
        ...(instructions ? { instructions } : {}),
      });
    },
  };
}

export function packageVersion(packageJsonUrl: URL): string {
  return (JSON.parse(readFileSync(packageJsonUrl, 'utf8')) as { version: string }).version;
}

/**
 * `--key value`, `--key=value`; a boolean also as `--flag`, `--flag true|false` and `--no-flag`.
 * A boolean takes the next word only when it is a boolean word (true, false, yes, no, on, off, 1, 0).
 */
export function parseFlags(argv: readonly string[], schema: ConfigSchema): Record<string, string | boolean> {
  const booleans = new Set(
    Object.entries(schema.shape)
      .filter(([, field]) => baseType(field as z.ZodType) === 'boolean')
      .map(([key]) => flagName(key)),
  );
  const lists = new Set(
    Object.entries(schema.shape)
      .filter(([, field]) => baseType(field as z.ZodType) === 'array')
      .map(([key]) => flagName(key)),
  );
  const flags: Record<string, string | boolean> = {};
  /** A list option given more than once adds to the list (--cdp-header A --cdp-header B); any other keeps the last. */
  const set = (name: string, value: string) => {
    const before = flags[name];
    flags[name] = lists.has(name) && typeof before === 'string' ? `${before},${value}` : value;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      throw new FathomError('invalid_config', `Unexpected argument "${arg}"`, { hint: 'Options look like --port 8933; see --help.' });
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const negated = name.startsWith('no-') && booleans.has(name.slice(3)) ? name.slice(3) : undefined;
    if (negated !== undefined) {
      if (inline !== undefined) {
        throw new FathomError('invalid_config', `Option --${name} takes no value (got "${inline}")`, { hint: `Write ${booleanForms(negated)}.` });
      }
      flags[negated] = false;
    } else if (inline !== undefined) set(name, inline);
    else if (booleans.has(name)) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) flags[name] = true;
      else {
        const value = booleanWord(next);
        if (value === undefined) {
          throw new FathomError('invalid_config', `Option --${name} takes true or false (got "${next}")`, { hint: `Write ${booleanForms(name)}.` });
        }
        flags[name] = value;
        i++;
      }
    } else {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) {
        throw new FathomError('invalid_config', `Option --${name} needs a value`, { hint: 'See --help for the options.' });
      }
      set(name, value);
      i++;
    }
  }
  return flags;
}

/** The terminal's width, or 100 columns when the help goes to a pipe or file. */
function helpWidth(): number {
  return process.stdout.isTTY && process.stdout.columns ? Math.max(60, process.stdout.columns) : 100;
}

export function serverHelp(definition: ServerDefinition): string {
  return [
    `fathom ${definition.name}: ${definition.description}`,
    '',
    `Usage: fathom ${definition.name} [options]`,
    '',
    'Options (each also read from fathom.config.json and the environment variable shown):',
    helpColumns(
      [
        ['--config <path>', 'Config file (default ./fathom.config.json) [FATHOM_CONFIG]'],
        ...describeConfig(definition.configSchema, definition.envAliases),
        ['--help', 'Show this help'],
      ],
      helpWidth(),
    ),
  ].join('\n');
}

export interface RunningServer {
  /** The HTTP endpoint, when serving over HTTP. */
  url?: string;
  /** Calls in flight are answered first with an error that starts with `reason`. */
  close(reason?: string): Promise<void>;
}

/**
 * Runs a server as this process: reads its config, serves it over stdio or Streamable HTTP,
 * and shuts down cleanly (sessions closed, shared resources released, child processes killed)
 * on SIGINT, SIGTERM, or the end of stdin in stdio mode.
 */
export async function serve<S extends ConfigSchema>(definition: ServerDefinition<S>, argv: readonly string[]): Promise<RunningServer> {
  const config = loadConfig(definition.configSchema, {
    server: definition.name,
    flags: parseFlags(argv, definition.configSchema),
    ...(definition.envAliases ? { envAliases: definition.envAliases } : {}),
  }) as z.infer<S> & BaseConfig;
  const logger = createLogger(`fathom.${definition.name}`, { level: config.logLevel });
  if (config.transport === 'stdio' && config.allowedHosts.length > 0) {
    process.stderr.write(
      `fathom ${definition.name}: --allowed-hosts is the HTTP Host header check and does nothing over stdio; ` +
        `to let outbound requests reach ${config.allowedHosts.join(', ')}, use --egress-allow\n`,
    );
  }
  if (config.stateless && definition.sessionState) {
    throw new FathomError('invalid_config', `--stateless is not for this server: each client's session holds ${definition.sessionState} in the replica that made them`, {
      hint:
        'Serve it with sessions and route each session to its replica: give every replica its own --replica-id and ' +
        'use the affinity upstreams of deploy/nginx/fathom.conf (they route on the replica named in the Mcp-Session-Id header).',
    });
  }
  if (config.transport === 'stdio' && config.stateless) {
    process.stderr.write(`fathom ${definition.name}: --stateless is for HTTP and does nothing over stdio\n`);
  }
  const create = async (endpoint = config.endpoint, instance?: InstanceOptions) => definition.createServer(config, logger, endpoint, instance);

  process.on('unhandledRejection', (reason) => logger.error('unhandled rejection', { error: errorMessage(reason) }));
  process.on('uncaughtException', (error) => logger.error('uncaught exception', { error: error.message, stack: error.stack }));

  // Signals are heard from the start: a client may stop the server the moment it says it serves.
  let closeTransport: ((reason: string) => Promise<void>) | undefined;
  let closing: Promise<void> | undefined;
  async function close(reason = 'The server is shutting down'): Promise<void> {
    closing ??= (async () => {
      await closeTransport?.(reason).catch((error) => logger.warn('close failed', { error: errorMessage(error) }));
      await definition.shutdown?.().catch((error) => logger.warn('shutdown failed', { error: errorMessage(error) }));
      await killChildren();
    })();
    return closing;
  }
  async function shutdown(reason: string) {
    logger.info('shutting down', { reason });
    const forced = setTimeout(() => process.exit(1), 5000);
    forced.unref();
    await close(`The server is shutting down (${reason})`);
    process.exit(0);
  }
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));

  let url: string | undefined;
  if (config.transport === 'stdio') {
    const connection = serveStdioConnection(await create(), () => create(), new StdioTransport(), () => void shutdown('stdin closed'));
    closeTransport = (reason) => connection.close(reason);
    logger.info('serving over stdio', { server: definition.name, profile: config.profile });
  } else {
    const host = await startHttpHost({
      config,
      port: config.port ?? definition.defaultPort,
      name: definition.name,
      version: definition.version,
      logger,
      createServer: create,
      endpoints: definition.endpoints?.(config) ?? [],
    });
    url = host.url;
    closeTransport = (reason) => host.close(reason);
    if (process.env.FATHOM_EXIT_WITH_PARENT === '1') process.stdin.on('end', () => void shutdown('parent exited')).resume();
    logger.info('serving over http', { server: definition.name, url, profile: config.profile });
  }

  return { ...(url ? { url } : {}), close };
}

/** The body of every server's main.ts. */
export function runMain(definition: ServerDefinition, argv: readonly string[] = process.argv.slice(2)): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(serverHelp(definition) + '\n');
    return;
  }
  if (argv.includes('--version')) {
    process.stdout.write(definition.version + '\n');
    return;
  }
  serve(definition, argv).catch((error: unknown) => {
    process.stderr.write(`fathom ${definition.name}: ${errorLine(error)}\n`);
    process.exit(2);
  });
}
