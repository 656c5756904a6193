import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { FathomError } from './errors.js';
import { LOG_LEVELS } from './log.js';

/** What every server accepts. A server's own schema extends this one. */
export const baseConfigSchema = z.object({
  transport: z.enum(['stdio', 'http']).default('stdio').describe('How clients connect: stdio, or Streamable HTTP at /mcp'),
  host: z.string().min(1).default('127.0.0.1').describe('HTTP interface to bind'),
  port: z.number().int().min(0).max(65535).optional().describe("HTTP port (0 picks a free one; default: the server's own)"),
  profile: z.enum(['default', 'mirothinker']).default('default').describe('Tool set: Fathom tools, or the ones MiroThinker was trained on'),
  endpoint: z.string().min(1).optional().describe("Serve only one named group of the profile's tools (over HTTP each group is also at /mcp/<name>)"),
  token: z.string().min(1).optional().describe('Bearer token HTTP clients must send (env FATHOM_TOKEN)'),
  allowedHosts: z
    .array(z.string())
    .default([])
    .describe('Extra Host header values accepted over HTTP, the DNS-rebinding guard (comma-separated; for outbound requests see --egress-allow)'),
  allowedOrigins: z.array(z.string()).default([]).describe('Extra Origin values accepted over HTTP (comma-separated)'),
  maxBodyBytes: z.number().int().positive().default(4 * 1024 * 1024).describe('Largest HTTP request body accepted'),
  headersTimeoutSeconds: z.number().positive().default(20).describe('Longest time an HTTP client may take to send the headers of a request'),
  requestTimeoutSeconds: z
    .number()
    .positive()
    .default(60)
    .describe('Longest time an HTTP client may take to send a whole request, body included (answers are not limited)'),
  sessionIdleMinutes: z.number().positive().default(30).describe('HTTP sessions idle this long are closed'),
  maxSessions: z.number().int().positive().default(64).describe('Most concurrent HTTP sessions'),
  stateless: z
    .boolean()
    .default(false)
    .describe('Serve HTTP without MCP sessions, so any replica answers any request behind a round-robin balancer (search and files)'),
  replicaId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, - and _ only, at most 64')
    .optional()
    .describe('Name of this replica behind a balancer, put in the session, sandbox and browser context ids it hands out (default: none, ids as they are)'),
  logLevel: z.enum(LOG_LEVELS).default('info').describe('stderr log level'),
  cachePath: z.string().default(join(homedir(), '.cache', 'fathom', 'cache.sqlite')).describe('Shared cache file'),
  cacheMode: z.enum(['normal', 'record', 'replay', 'off']).default('normal').describe('Cache mode; record/replay repeat a run exactly'),
  cacheUrl: z
    .string()
    .refine(isRedisUrl, { message: 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0' })
    .optional()
    .describe('Keep the cache in this Redis (redis://HOST:PORT/DB or rediss://), shared by every server using it, instead of --cache-path'),
  cacheMaxMb: z.number().positive().optional().describe('Total cache size kept: least recently used entries are dropped past it (checked every minute)'),
  cacheEntryMaxMb: z.number().positive().default(64).describe('Largest single body the cache keeps, after compression (larger ones are fetched every time)'),
  allowPrivateNetwork: z.boolean().default(false).describe('Let outbound requests reach loopback and private addresses'),
  egressAllow: z
    .array(z.string())
    .default([])
    .describe('Hosts, IPs or CIDRs outbound requests may reach even if private (comma-separated; formerly --allow-hosts)'),
  roots: z
    .array(z.string())
    .default(() => [process.cwd()])
    .describe('Host folders the server may read (comma-separated; default: the working directory)'),
  outputDir: z
    .string()
    .default(() => join(process.cwd(), 'fathom-output'))
    .describe('Host folder where servers write files for other tools (exports, downloads)'),
});

export type BaseConfig = z.infer<typeof baseConfigSchema>;

function isRedisUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '' && /^\/?\d*$/.test(url.pathname);
  } catch {
    return false;
  }
}
export type ConfigSchema = z.ZodObject<z.ZodRawShape>;

export type ConfigSource = 'default' | 'file' | 'env' | 'flag';

export interface LoadConfigOptions {
  /** The server's name, for its section in fathom.config.json: `{ "servers": { "<name>": {…} } }`. */
  server: string;
  flags?: Record<string, string | boolean>;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Extra environment names per key, e.g. `{ serperApiKey: ['SERPER_API_KEY'] }`. */
  envAliases?: Record<string, readonly string[]>;
  /** Where a deprecation warning goes (default: one line on stderr, once per process). */
  warn?: (line: string) => void;
}

/** Keys that were renamed: the old name still works, with a warning. */
export const RENAMED_KEYS: Readonly<Record<string, string>> = { allowHosts: 'egressAllow' };

const warned = new Set<string>();
function warnOnce(line: string): void {
  if (warned.has(line)) return;
  warned.add(line);
  process.stderr.write(`fathom: ${line}\n`);
}

export const CONFIG_FILE = 'fathom.config.json';

export function envName(key: string): string {
  return 'FATHOM_' + key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

export function flagName(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

/** The type under optional/default wrappers: 'string', 'number', 'boolean', 'array', 'enum'… */
export function baseType(schema: z.ZodType): string {
  let current = schema as z.ZodType & { def: { type: string; innerType?: z.ZodType } };
  while (['optional', 'default', 'nullable', 'prefault'].includes(current.def.type) && current.def.innerType) {
    current = current.def.innerType as typeof current;
  }
  return current.def.type;
}

const TRUE_WORDS = ['true', '1', 'yes', 'on'];
const FALSE_WORDS = ['false', '0', 'no', 'off'];

/** `true`, `yes`, `on`, `1` and their opposites, in any case; undefined for anything else. */
export function booleanWord(raw: string): boolean | undefined {
  const word = raw.trim().toLowerCase();
  return TRUE_WORDS.includes(word) ? true : FALSE_WORDS.includes(word) ? false : undefined;
}

/** The ways to write a boolean option, for help and errors. */
export function booleanForms(flag: string): string {
  return `--${flag}, --${flag} true|false, --${flag}=true|false or --no-${flag}`;
}

/** Environment and flags are strings: read them as the key's type. */
function fromString(type: string, raw: string | boolean): unknown {
  if (typeof raw === 'boolean') return raw;
  switch (type) {
    case 'number':
    case 'int': {
      // Unparseable text stays text, so the error shows what was given rather than NaN (null).
      const number = Number(raw);
      return raw.trim() === '' || Number.isNaN(number) ? raw : number;
    }
    case 'boolean':
      return booleanWord(raw) ?? raw;
    case 'array':
      return raw.split(',').map((item) => item.trim()).filter(Boolean);
    case 'object':
    case 'record':
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        return raw;
      }
    default:
      return raw;
  }
}

function readFile(path: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new FathomError('invalid_config', `Cannot read ${path}: ${(error as Error).message}`, {
      hint: `Fix the JSON in ${path}, or remove the file.`,
    });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new FathomError('invalid_config', `${path} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * One precedence chain for every server: defaults < fathom.config.json < environment < flags.
 * The file's top-level keys apply to every server (only the shared keys are allowed there), and
 * `servers.<name>` holds one server's own keys. Errors name the key, where it came from, and
 * what it accepts.
 */
export function loadConfig<S extends ConfigSchema>(schema: S, options: LoadConfigOptions): z.infer<S> {
  const env = options.env ?? process.env;
  const flags = { ...(options.flags ?? {}) };
  const shape = schema.shape;
  const keys = Object.keys(shape);
  const values: Record<string, unknown> = {};
  const sources: Record<string, string> = {};
  const warn = options.warn ?? warnOnce;
  /** The current name of a key written under its old one, with the warning that says so. */
  const current = (key: string, oldName: string, newName: string): string => {
    const renamed = RENAMED_KEYS[key];
    if (renamed === undefined || !keys.includes(renamed)) return key;
    warn(`${oldName} is deprecated: it is now ${newName} (outbound requests; --allowed-hosts is the HTTP Host header check)`);
    return renamed;
  };

  const configPath = typeof flags.config === 'string' ? flags.config : env.FATHOM_CONFIG;
  delete flags.config;
  const filePath = configPath
    ? resolve(options.cwd ?? process.cwd(), configPath)
    : join(options.cwd ?? process.cwd(), CONFIG_FILE);
  if (configPath && !existsSync(filePath)) {
    throw new FathomError('invalid_config', `Config file not found: ${filePath}`);
  }
  if (existsSync(filePath)) {
    const { servers, ...shared } = readFile(filePath);
    const baseKeys = Object.keys(baseConfigSchema.shape);
    for (const [written, value] of Object.entries(shared)) {
      const key = written in RENAMED_KEYS ? current(written, `"${written}" in ${filePath}`, `"${RENAMED_KEYS[written]}"`) : written;
      if (!baseKeys.includes(key)) {
        throw new FathomError('invalid_config', `Unknown key "${key}" at the top of ${filePath}`, {
          hint: `Top-level keys apply to every server: ${baseKeys.join(', ')}. Put a server's own keys under "servers": { "${options.server}": { … } }.`,
        });
      }
      values[key] = value;
      sources[key] = filePath;
    }
    const section = (servers as Record<string, unknown> | undefined)?.[options.server];
    if (section !== undefined) {
      if (typeof section !== 'object' || section === null) {
        throw new FathomError('invalid_config', `"servers.${options.server}" in ${filePath} must be an object`);
      }
      for (const [written, value] of Object.entries(section)) {
        const key = written in RENAMED_KEYS ? current(written, `"servers.${options.server}.${written}" in ${filePath}`, `"${RENAMED_KEYS[written]}"`) : written;
        if (!keys.includes(key)) {
          throw new FathomError('invalid_config', `Unknown key "servers.${options.server}.${key}" in ${filePath}`, {
            hint: `Known keys: ${keys.join(', ')}.`,
          });
        }
        values[key] = value;
        sources[key] = `${filePath} (servers.${options.server})`;
      }
    }
  }

  const oldNames = (key: string) => Object.keys(RENAMED_KEYS).filter((old) => RENAMED_KEYS[old] === key);
  for (const key of keys) {
    const deprecated = oldNames(key).map(envName);
    for (const name of [envName(key), ...(options.envAliases?.[key] ?? []), ...deprecated]) {
      const raw = env[name];
      if (raw === undefined || raw === '') continue;
      if (deprecated.includes(name)) current(oldNames(key)[deprecated.indexOf(name)]!, name, envName(key));
      values[key] = fromString(baseType(shape[key] as z.ZodType), raw);
      sources[key] = `environment variable ${name}`;
      break;
    }
  }

  for (const [name, raw] of Object.entries(flags)) {
    const old = Object.keys(RENAMED_KEYS).find((candidate) => flagName(candidate) === name || candidate === name);
    const key = old ? current(old, `--${name}`, `--${flagName(RENAMED_KEYS[old]!)}`) : keys.find((candidate) => flagName(candidate) === name || candidate === name);
    if (!key) {
      throw new FathomError('invalid_config', `Unknown option --${name}`, {
        hint: `Known options: ${keys.map((k) => '--' + flagName(k)).join(', ')}.`,
      });
    }
    values[key] = fromString(baseType(shape[key] as z.ZodType), raw);
    sources[key] = `option --${flagName(key)}`;
  }

  const parsed = schema.safeParse(values);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const key = issue.path.map(String).join('.');
  const top = String(issue.path[0] ?? '');
  const where = sources[top] ?? 'defaults';
  const got = top in values ? ` (got ${shownValue(top, values[top])})` : '';
  throw new FathomError('invalid_config', `Invalid configuration "${key}" from ${where}: ${issue.message}${got}`, {
    hint: describeKey(schema, top),
  });
}

/** A rejected value as an error shows it: a secret's length only, a URL without its password. */
function shownValue(key: string, value: unknown): string {
  if (/token|key|password|secret|header/i.test(key)) return `a value of ${String(value).length} characters, not shown`;
  return JSON.stringify(value).replace(/(\/\/[^/\s:@"]*:)[^@\s"/]+@/g, '$1***@');
}

function accepted(schema: z.ZodType): string | undefined {
  const type = baseType(schema);
  let current = schema as z.ZodType & { def: { type: string; innerType?: z.ZodType; entries?: Record<string, string> } };
  while (current.def.innerType) current = current.def.innerType as typeof current;
  if (type === 'enum' && current.def.entries) return Object.values(current.def.entries).join(' | ');
  return type;
}

function describeKey(schema: ConfigSchema, key: string): string | undefined {
  const field = schema.shape[key] as z.ZodType | undefined;
  if (!field) return undefined;
  const forms = baseType(field) === 'boolean' ? `true or false (${booleanForms(flagName(key))})` : accepted(field);
  return `"${key}" accepts: ${forms}${field.description ? ` (${field.description})` : ''}.`;
}

/** The rows of a server's `--help`: every key as a flag with its meaning and environment names. */
export function describeConfig(schema: ConfigSchema, envAliases: Record<string, readonly string[]> = {}): [term: string, description: string][] {
  return Object.entries(schema.shape).map(([key, field]) => {
    const names = [...new Set([envName(key), ...(envAliases[key] ?? [])])].join(', ');
    const flag = flagName(key);
    const boolean = baseType(field as z.ZodType) === 'boolean';
    const term = boolean ? `--${flag} [true|false]` : `--${flag} <${accepted(field as z.ZodType)}>`;
    const description = `${(field as z.ZodType).description ?? ''}${boolean ? `; --no-${flag} for false` : ''}`;
    return [term, `${description} [${names}]`];
  });
}
