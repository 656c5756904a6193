import { posix } from 'node:path';
import { defineTool, errorMessage, FathomError, fileNameOf, mirothinkerTool, respond } from '@fathom/core';
import type { Tool, ToolAnnotations, ToolContext } from '@fathom/core';
import { z } from 'zod';
import type { CellOutput, Sandbox } from '../backends/types.js';
import { WORKSPACE } from '../backends/types.js';
import { cellReport, commandFailure, commandResultRepr, executionRepr, KEEP_BYTES, MIROTHINKER_MAX_ERROR, noNetworkNote, shlexQuote, truncateResult } from '../format.js';
import type { SandboxRuntime } from '../runtime.js';
import type { Session } from '../sessions.js';
import { fetchUrl, exportFile, readLocal, targetPath, transferName } from '../transfer.js';

/** The MCP server name MiroThinker knows these tools under. */
export const MIROTHINKER_SERVER = 'tool-python';
const MAX_SANDBOX_SECONDS = 600;

/** Ids the model makes up instead of calling create_sandbox (MiroThinker's own list). */
const INVALID_SANDBOX_IDS = new Set([
  'default', 'sandbox1', 'sandbox', 'some_id', 'new_sandbox', 'python', 'create_sandbox', 'sandbox123', 'temp', 'sandbox-0',
  'sandbox-1', 'sandbox_0', 'sandbox_1', 'new', '0', 'auto', 'default_sandbox', 'none', 'sandbox_12345', 'dummy', 'sandbox_01',
]);

/**
 * What each tool does to its world (MiroThinker's servers listed no annotations: these are Fathom's).
 * Code and commands can delete the sandbox's files; a transfer replaces a file of the same name.
 */
const ANNOTATIONS = {
  create_sandbox: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  run_command: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  run_python_code: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  upload_file_from_local_to_sandbox: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  download_file_from_internet_to_sandbox: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
  // It writes into the host's output folder.
  download_file_from_sandbox_to_local: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
} satisfies Record<string, ToolAnnotations>;

const invalidId = (id: string) => `[ERROR]: '${id}' is not a valid sandbox_id. Please create a real sandbox first using the create_sandbox tool.`;
const notConnected = (id: string) => `[ERROR]: Failed to connect to sandbox ${id}. Make sure the sandbox is created and the sandbox_id is correct.`;
/** The trained "failed to connect" line, with why for an id another replica behind the balancer handed out. */
const otherReplica = (id: string, error: FathomError) => `[ERROR]: Failed to connect to sandbox ${id}. ${error.message}. Please create a new sandbox using the create_sandbox tool.`;
const short = (error: unknown) => errorMessage(error).slice(0, MIROTHINKER_MAX_ERROR);
/** Stands where MiroThinker prints the Python exception's class name. */
const exceptionType = (error: unknown) => (error instanceof FathomError ? error.code : 'Exception');

/**
 * `python_mcp_server.py` of MiroThinker, with its result strings, on Fathom's sandboxes. Each tool is
 * listed as fastmcp lists it there (description, input and output schema, from the protocol data),
 * validated by a zod schema behind it, and answers fastmcp's structuredContent {"result": text} too.
 */
export function mirothinkerTools(runtime: SandboxRuntime, owner: string): Tool[] {
  const { config } = runtime;
  const v1_0 = config.mirothinkerRelease === 'v1.0';

  function trained<I extends z.ZodObject<z.ZodRawShape>>(name: keyof typeof ANNOTATIONS, input: I, handle: (args: z.infer<I>, context: ToolContext) => Promise<string>): Tool {
    const original = mirothinkerTool(MIROTHINKER_SERVER, name, config.mirothinkerRelease);
    return defineTool({
      name,
      title: name,
      description: original.description,
      input,
      advertisedInputSchema: original.inputSchema,
      ...(original.outputSchema ? { advertisedOutputSchema: original.outputSchema } : {}),
      annotations: ANNOTATIONS[name],
      handle: async (args, context) => {
        const text = await handle(args, context);
        const response = respond().text(text);
        return original.outputSchema ? response.structured({ result: text }) : response;
      },
    });
  }
  const runOptions = (signal: AbortSignal) => ({ timeoutMs: Math.min(config.callTimeoutSeconds, config.maxCallTimeoutSeconds) * 1000, keepBytes: KEEP_BYTES, signal });

  /** Runs `work` on a live sandbox, or answers with the trained error for an invented or unknown id. */
  async function withSandbox(id: string, work: (sandbox: Sandbox, session: Session) => Promise<string>): Promise<string> {
    if (INVALID_SANDBOX_IDS.has(id)) return invalidId(id);
    const sessions = await runtime.sessions();
    if (!sessions.get(id, owner)) return sessions.foreign(id) === undefined ? notConnected(id) : otherReplica(id, sessions.missing(id));
    try {
      return await sessions.use(id, owner, work);
    } catch (error) {
      if (error instanceof FathomError && error.code === 'not_found') return notConnected(id);
      if (error instanceof FathomError && error.code === 'wrong_replica') return otherReplica(id, error);
      throw error;
    }
  }

  const createSandbox = trained('create_sandbox', z.object({ timeout: z.number().int().default(MAX_SANDBOX_SECONDS) }), async ({ timeout }) => {
    try {
      const sessions = await runtime.sessions();
      const session = await sessions.create(owner, Math.max(10, Math.min(timeout, MAX_SANDBOX_SECONDS)) * 1000);
      return `Sandbox created with sandbox_id: ${session.id}`;
    } catch (error) {
      return `[ERROR]: Failed to create sandbox after 5 attempts: ${short(error)}, please retry later.`;
    }
  });

  const runCommand = trained('run_command', z.object({ command: z.string(), sandbox_id: z.string() }), ({ command, sandbox_id }, context) =>
    withSandbox(sandbox_id, async (sandbox) => {
      try {
        const result = await sandbox.runShell(command, runOptions(context.signal));
        if (result.timedOut) return commandFailure('TimeoutException', `The command ran longer than ${config.callTimeoutSeconds} s and was stopped.`);
        if (result.exitCode !== 0) return commandFailure('CommandExitException', `Command exited with code ${result.exitCode} and error:\n${result.stderr.text}`);
        return truncateResult(commandResultRepr(result));
      } catch (error) {
        return commandFailure(exceptionType(error), short(error));
      }
    }),
  );

  const runPythonCode = trained('run_python_code', z.object({ code_block: z.string(), sandbox_id: z.string() }), async ({ code_block, sandbox_id }, context) => {
    const reply = (cell: CellOutput) => {
      const notes = [cellReport(cell).notice, cell.networkFailure ? noNetworkNote('download_file_from_internet_to_sandbox') : undefined].filter(Boolean);
      return [truncateResult(executionRepr(cell)), ...notes.map((note) => `[NOTE]: ${note}`)].join('\n\n');
    };
    const run = async (sandbox: Sandbox) => {
      try {
        return reply(await sandbox.runPython(code_block, runOptions(context.signal)));
      } catch (error) {
        return `[ERROR]: Failed to run code in sandbox ${sandbox.id} after 3 attempts. Exception type: ${exceptionType(error)}, Details: ${short(error)}`;
      }
    };
    // An invented id runs statelessly in a fresh sandbox that is closed after the run, as
    // MiroThinker's newer server does (v1.0 refused it): no note in the output, one error text
    // for every failure.
    if (!v1_0 && (!sandbox_id || INVALID_SANDBOX_IDS.has(sandbox_id))) {
      const stateless = (error: unknown) => `[ERROR]: Failed to run code in stateless mode. Exception type: ${exceptionType(error)}, Details: ${short(error)}`;
      const sessions = await runtime.sessions();
      const session = await sessions.create(owner).catch((error: unknown) => error as Error);
      if (session instanceof Error) return stateless(session);
      try {
        return await sessions.use(session.id, owner, async (sandbox) => {
          try {
            return reply(await sandbox.runPython(code_block, runOptions(context.signal)));
          } catch (error) {
            return stateless(error);
          }
        });
      } finally {
        await sessions.closeSession(session.id, owner);
      }
    }
    return withSandbox(sandbox_id, run);
  });

  const upload = trained(
    'upload_file_from_local_to_sandbox',
    z.object({ sandbox_id: z.string(), local_file_path: z.string(), sandbox_file_path: z.string().default(WORKSPACE) }),
    ({ sandbox_id, local_file_path, sandbox_file_path }, context) =>
      withSandbox(sandbox_id, async (sandbox) => {
        let local: { bytes: Uint8Array; name: string };
        try {
          local = await readLocal(runtime, local_file_path, context);
        } catch (error) {
          if (error instanceof FathomError && error.code === 'not_found') return `[ERROR]: Local file does not exist: ${local_file_path}`;
          if (error instanceof FathomError && error.code === 'invalid_argument' && /not a file/.test(error.message)) return `[ERROR]: Path is not a file: ${local_file_path}`;
          return `[ERROR]: Failed to upload file ${local_file_path} to sandbox ${sandbox_id}: ${short(error)}`;
        }
        try {
          const path = await sandbox.writeFile(posix.normalize(posix.join(sandbox_file_path, transferName(local.name))), local.bytes);
          return `File uploaded to ${path}`;
        } catch (error) {
          return `[ERROR]: Failed to upload file ${local_file_path} to sandbox ${sandbox_id}: ${short(error)}`;
        }
      }),
  );

  const downloadFromInternet = trained(
    'download_file_from_internet_to_sandbox',
    z.object({ sandbox_id: z.string(), url: z.string(), sandbox_file_path: z.string().default(WORKSPACE) }),
    ({ sandbox_id, url, sandbox_file_path }) =>
      withSandbox(sandbox_id, async (sandbox) => {
        try {
          const fetched = await fetchUrl(runtime, url);
          const name = transferName((new URL(url).pathname.split('/').pop() && fileNameOf(url)) || fetched.name);
          // MiroThinker's rule: a path that ends with "/" or has no extension is a folder.
          const folder = sandbox_file_path.endsWith('/') || !posix.extname(sandbox_file_path) || undefined;
          const path = await sandbox.writeFile(await targetPath(sandbox, sandbox_file_path, name, folder), fetched.bytes);
          return `File downloaded to ${shlexQuote(path)}`;
        } catch (error) {
          return `[ERROR]: Failed to download file from ${url}: ${short(error)}`;
        }
      }),
  );

  const downloadToLocal = trained(
    'download_file_from_sandbox_to_local',
    z.object({ sandbox_id: z.string(), sandbox_file_path: z.string(), local_filename: z.string().nullable().optional() }),
    ({ sandbox_id, sandbox_file_path, local_filename }) =>
      withSandbox(sandbox_id, async (_sandbox, session) => {
        try {
          const local = await exportFile(runtime, session, sandbox_file_path, local_filename ?? undefined);
          return `File downloaded successfully to: ${local.path}`;
        } catch (error) {
          if (error instanceof FathomError && error.code === 'not_found') {
            return `[ERROR]: Cannot download '${sandbox_file_path}' from sandbox ${sandbox_id}: file does not exist.`;
          }
          if (error instanceof FathomError && /is a folder/.test(error.message)) {
            return `[ERROR]: Cannot download '${sandbox_file_path}' from sandbox ${sandbox_id}: path is a directory, not a file.`;
          }
          return `[ERROR]: Failed to read file '${sandbox_file_path}' from sandbox ${sandbox_id}: ${short(error)}`;
        }
      }),
  );

  const tools = [createSandbox, runCommand, runPythonCode, upload, downloadFromInternet];
  if (config.enableDownloadToLocal) tools.push(downloadToLocal);
  return tools;
}
