import { defineTool, FathomError, respond } from '@fathom/core';
import { z } from 'zod';
import type { CapturedText, CellOutput, Sandbox } from '../backends/types.js';
import { WORKSPACE } from '../backends/types.js';
import { cellReport, describeChanges, formatBytes, headAndTail, KEEP_BYTES, noNetworkNote, shellReport } from '../format.js';
import type { SandboxRuntime } from '../runtime.js';
import type { Session } from '../sessions.js';
import { downloadInto, exportFile, uploadInto } from '../transfer.js';

const sessionId = z.string().min(1).max(200).describe('The id python_create_session returned');
const timeoutField = z.number().positive().optional().describe('Time limit in seconds for this call (default: the server\'s, usually 120)');
const pathField = z.string().min(1).max(4096);

function runOptions(runtime: SandboxRuntime, timeoutS: number | undefined, signal: AbortSignal) {
  const { config } = runtime;
  const seconds = Math.min(timeoutS ?? config.callTimeoutSeconds, config.maxCallTimeoutSeconds);
  return { timeoutMs: seconds * 1000, keepBytes: KEEP_BYTES, signal };
}

const fileChange = z.object({ path: z.string(), change: z.enum(['created', 'modified', 'deleted']), size: z.number() });

const sessionOutput = z.object({ session_id: z.string(), backend: z.string(), workspace: z.string(), idle_timeout_s: z.number() });

const runOutput = z.object({
  stdout: z.string(),
  stderr: z.string(),
  value: z.string().optional(),
  error: z.object({ name: z.string(), value: z.string(), traceback: z.string() }).optional(),
  files: z.array(fileChange),
  figures: z.number().describe('Figures returned as image content'),
  timed_out: z.boolean(),
  restarted: z.string().optional().describe('Set when the interpreter restarted and lost its state'),
  saved_output: z.array(z.string()).describe('Workspace files holding output too long to show'),
});

const writtenOutput = z.object({ path: z.string().describe('The file written in the sandbox'), bytes: z.number() });

const readOutput = z.object({
  path: z.string(),
  bytes: z.number().describe('Size of the whole file'),
  encoding: z.enum(['text', 'base64', 'image']).describe('How the content is returned: text, base64 text, or image content'),
  mime_type: z.string().optional().describe('For images'),
  start: z.number().optional().describe('Text: offset of the first character returned'),
  end: z.number().optional().describe('Text: offset after the last character returned'),
  total_chars: z.number().optional().describe('Text: length of the whole file'),
  next_cursor: z.string().optional().describe('Text: pass as cursor to read on; absent at the end'),
});

const listOutput = z.object({
  path: z.string(),
  entries: z.array(z.object({ path: z.string(), type: z.enum(['file', 'directory', 'symlink', 'other']), size: z.number(), modified: z.string() })),
  omitted: z.number().describe('Entries found but not listed, past the cap'),
  incomplete: z.boolean().describe('True when the folder was too large to walk to the end, so omitted is a lower bound'),
});

const downloadOutput = z.object({ url: z.string(), path: z.string(), bytes: z.number(), content_type: z.string().optional() });

const exportOutput = z.object({ path: z.string().describe('The file written on the host, in its output folder'), bytes: z.number() });

const closeOutput = z.object({ session_id: z.string(), closed: z.boolean().describe('False when the session was already closed or expired') });

const shellOutput = z.object({ exit_code: z.number(), stdout: z.string(), stderr: z.string(), timed_out: z.boolean(), saved_output: z.array(z.string()) });

/** A stream cut to the budget; the whole of it saved in the workspace when it did not fit. */
async function shown(sandbox: Sandbox, stream: CapturedText, name: string, budget: number, call: number): Promise<{ text: string; savedTo?: string; note?: string }> {
  const cut = headAndTail(stream.text, budget);
  const dropped = stream.bytes > Buffer.byteLength(stream.text);
  if (!cut.cut && !dropped) return { text: stream.text };
  const savedTo = `${WORKSPACE}/.fathom/run-${call}-${name}.txt`;
  try {
    await sandbox.writeFile(savedTo, Buffer.from(stream.text));
  } catch {
    return { text: cut.text, note: `${name} was ${formatBytes(stream.bytes)}; only part is shown.` };
  }
  const kept = dropped ? ` (its first ${formatBytes(Buffer.byteLength(stream.text))} of ${formatBytes(stream.bytes)})` : '';
  return { text: cut.text, savedTo, note: `${name} was cut to fit; all of it${kept} is in ${savedTo}.` };
}

/** The default tools of one server instance; `owner` is that instance: only it reaches the sandboxes it made. */
export function defaultTools(runtime: SandboxRuntime, owner: string) {
  const { config } = runtime;
  const maxChars = config.maxOutputChars;
  const use = async <T>(id: string, work: (sandbox: Sandbox, session: Session) => Promise<T>): Promise<T> => {
    const sessions = await runtime.sessions();
    return sessions.use(id, owner, work);
  };

  const createSession = defineTool({
    name: 'python_create_session',
    title: 'Create a Python sandbox',
    description:
      'Start a sandboxed Python session and get its id. Variables and imports persist between python_run calls like a notebook; ' +
      `files live in ${WORKSPACE}. There is no network inside: fetch files with sandbox_download_url. ` +
      'The session closes after timeout_s seconds without use.',
    input: z.object({ timeout_s: z.number().int().min(10).max(86_400).optional().describe('Close the session after this many idle seconds (default 600)') }),
    output: sessionOutput,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    async handle({ timeout_s }) {
      const sessions = await runtime.sessions();
      const session = await sessions.create(owner, sessions.ttlFor(timeout_s));
      const idle = Math.round(session.ttlMs / 1000);
      return respond<z.infer<typeof sessionOutput>>()
        .text(`Created Python session ${session.id} (${sessions.backend.name}). Files live in ${WORKSPACE}; it closes after ${idle} s idle.`)
        .structured({ session_id: session.id, backend: sessions.backend.name, workspace: WORKSPACE, idle_timeout_s: idle });
    },
  });

  const pythonRun = defineTool({
    name: 'python_run',
    title: 'Run Python',
    description:
      'Run Python code in a session. State persists between calls. Returns stdout, stderr, the value of the last expression, ' +
      'the error with its traceback, files created or changed, and matplotlib figures as images. ' +
      `Long output is cut (the whole of it is saved in ${WORKSPACE}/.fathom/). ` +
      'Code past the time limit is stopped; when the interpreter has to restart, its variables are lost and the answer says whether the files were kept.',
    input: z.object({
      session_id: sessionId,
      code: z.string().max(1_000_000).describe('Python source; the value of a final expression is returned'),
      timeout_s: timeoutField,
    }),
    output: runOutput,
    // Code can delete or overwrite the session's files; the sandbox has no network.
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    handle: ({ session_id, code, timeout_s }, context) =>
      use(session_id, async (sandbox, session) => {
        const cell = await sandbox.runPython(code, runOptions(runtime, timeout_s, context.signal));
        return renderCell(sandbox, cell, session.calls, maxChars);
      }),
  });

  const shellRun = defineTool({
    name: 'shell_run',
    title: 'Run a shell command',
    description: `Run a bash command in the session's sandbox (working directory ${WORKSPACE}, no network). Returns the exit code, stdout and stderr.`,
    input: z.object({ session_id: sessionId, command: z.string().min(1).max(100_000), timeout_s: timeoutField }),
    output: shellOutput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    handle: ({ session_id, command, timeout_s }, context) =>
      use(session_id, async (sandbox, { calls: call }) => {
        const result = await sandbox.runShell(command, runOptions(runtime, timeout_s, context.signal));
        const stdout = await shown(sandbox, result.stdout, 'stdout', maxChars, call);
        const stderr = await shown(sandbox, result.stderr, 'stderr', Math.max(2000, maxChars / 4), call);
        const report = shellReport(result);
        const lines = [`exit code: ${result.exitCode}${result.timedOut ? ' (stopped at the time limit)' : ''}`];
        if (stdout.text) lines.push(`stdout:\n${stdout.text}`);
        if (stderr.text) lines.push(`stderr:\n${stderr.text}`);
        for (const note of [report.notice, stdout.note, stderr.note, report.restarted]) if (note) lines.push(`[note] ${note}`);
        return respond<z.infer<typeof shellOutput>>()
          .text(lines.join('\n'))
          .structured({
            exit_code: result.exitCode,
            stdout: stdout.text,
            stderr: stderr.text,
            timed_out: result.timedOut,
            saved_output: [stdout.savedTo, stderr.savedTo].filter((path): path is string => Boolean(path)),
          });
      }),
  });

  const writeFileTool = defineTool({
    name: 'sandbox_write_file',
    title: 'Write a file in the sandbox',
    description: `Write text (or base64-encoded bytes) to a file in the sandbox; folders are created. Relative paths are under ${WORKSPACE}.`,
    input: z.object({
      session_id: sessionId,
      path: pathField,
      content: z.string().max(50_000_000),
      encoding: z.enum(['text', 'base64']).default('text'),
    }),
    output: writtenOutput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    handle: ({ session_id, path, content, encoding }) =>
      use(session_id, async (sandbox) => {
        const data = encoding === 'base64' ? Buffer.from(content, 'base64') : Buffer.from(content, 'utf8');
        const written = await sandbox.writeFile(path, data);
        return respond<z.infer<typeof writtenOutput>>().text(`Wrote ${formatBytes(data.length)} to ${written}`).structured({ path: written, bytes: data.length });
      }),
  });

  const readFileTool = defineTool({
    name: 'sandbox_read_file',
    title: 'Read a file in the sandbox',
    description:
      'Read a file from the sandbox: text as text (long files in parts, with a cursor), images as image content, other binary files as base64.',
    input: z.object({
      session_id: sessionId,
      path: pathField,
      encoding: z.enum(['auto', 'text', 'base64']).default('auto').describe('auto: text when the file is text, else base64'),
      cursor: z.string().optional().describe('Continue where the previous call stopped'),
      max_chars: z.number().int().min(500).max(200_000).default(20_000),
    }),
    output: readOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    handle: ({ session_id, path, encoding, cursor, max_chars }) =>
      use(session_id, async (sandbox) => {
        const data = Buffer.from(await sandbox.readFile(path, config.maxTransferMb * 1024 * 1024));
        const image = imageType(data);
        const answer = () => respond<z.infer<typeof readOutput>>();
        if (encoding === 'auto' && image) {
          return answer()
            .content({ type: 'image', data: data.toString('base64'), mimeType: image }, { type: 'text', text: `${path}: ${image}, ${formatBytes(data.length)}` })
            .structured({ path, bytes: data.length, encoding: 'image', mime_type: image });
        }
        const binary = data.subarray(0, 8192).includes(0);
        if (encoding === 'base64' || (encoding === 'auto' && binary)) {
          if (data.length > max_chars * 3) {
            throw new FathomError('too_large', `${path} is ${formatBytes(data.length)}: too large to return as base64`, {
              hint: 'Export it with sandbox_export, or process it inside the sandbox.',
            });
          }
          return answer().text(`${path} (${formatBytes(data.length)}, base64):\n${data.toString('base64')}`).structured({ path, bytes: data.length, encoding: 'base64' });
        }
        const response = answer();
        const slice = response.body(data.toString('utf8'), { maxChars: max_chars, cursor, empty: '(empty file)' });
        return response.structured({
          path,
          bytes: data.length,
          encoding: 'text',
          start: slice.start,
          end: slice.end,
          total_chars: slice.total,
          ...(slice.nextCursor ? { next_cursor: slice.nextCursor } : {}),
        });
      }),
  });

  const listFilesTool = defineTool({
    name: 'sandbox_list_files',
    title: 'List files in the sandbox',
    description: `List the files in a sandbox folder (default ${WORKSPACE}) with their sizes.`,
    input: z.object({ session_id: sessionId, path: pathField.default(WORKSPACE), recursive: z.boolean().default(false) }),
    output: listOutput,
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    handle: ({ session_id, path, recursive }) =>
      use(session_id, async (sandbox) => {
        const { entries, omitted, incomplete } = await sandbox.listFiles(path, recursive);
        const response = respond<z.infer<typeof listOutput>>().structured({
          path,
          entries: entries.map((entry) => ({ path: entry.path, type: entry.type, size: entry.size, modified: entry.modified })),
          omitted,
          incomplete: incomplete === true,
        });
        if (!entries.length) return response.text(`${path} is empty.`);
        const lines = entries.map((entry) => (entry.type === 'directory' ? `${entry.path}/` : `${entry.path}  ${entry.type === 'file' ? formatBytes(entry.size) : entry.type}`));
        if (omitted) {
          lines.push(
            `[note] Only the first ${entries.length.toLocaleString('en-US')} entries are listed; ${incomplete ? 'more than ' : ''}${omitted.toLocaleString('en-US')} more were not shown. ` +
              'List a subfolder, or list without recursive, to see the rest.',
          );
        }
        return response.text(lines.join('\n'));
      }),
  });

  const upload = defineTool({
    name: 'sandbox_upload',
    title: 'Upload a local file to the sandbox',
    description: `Copy a file from the host (within the folders this server may read) into the sandbox, by default into ${WORKSPACE}.`,
    input: z.object({ session_id: sessionId, local_path: pathField, sandbox_path: pathField.optional().describe(`Target file or folder (default ${WORKSPACE})`) }),
    output: writtenOutput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    handle: ({ session_id, local_path, sandbox_path }, context) =>
      use(session_id, async (sandbox) => {
        const written = await uploadInto(runtime, sandbox, local_path, sandbox_path ?? WORKSPACE, context);
        return respond<z.infer<typeof writtenOutput>>()
          .text(`Uploaded ${local_path} to ${written.path} (${formatBytes(written.size)})`)
          .structured({ path: written.path, bytes: written.size });
      }),
  });

  const downloadUrl = defineTool({
    name: 'sandbox_download_url',
    title: 'Download a URL into the sandbox',
    description: `Fetch an http(s) URL (the server fetches it: the sandbox has no network) and save it in the sandbox, by default in ${WORKSPACE}.`,
    input: z.object({ session_id: sessionId, url: z.string().url(), sandbox_path: pathField.optional().describe(`Target file or folder (default ${WORKSPACE})`) }),
    output: downloadOutput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: true },
    handle: ({ session_id, url, sandbox_path }) =>
      use(session_id, async (sandbox) => {
        const written = await downloadInto(runtime, sandbox, url, sandbox_path ?? WORKSPACE);
        return respond<z.infer<typeof downloadOutput>>()
          .text(`Downloaded ${written.url} to ${written.path} (${formatBytes(written.size)}${written.contentType ? `, ${written.contentType}` : ''})`)
          .structured({ url: written.url, path: written.path, bytes: written.size, ...(written.contentType ? { content_type: written.contentType } : {}) });
      }),
  });

  const exportTool = defineTool({
    name: 'sandbox_export',
    title: 'Export a sandbox file to the host',
    description: "Copy a file out of the sandbox into the host's output folder, where other tools (such as the files server) can read it.",
    input: z.object({ session_id: sessionId, path: pathField, name: z.string().max(255).optional().describe('File name on the host (default: the file\'s own)') }),
    output: exportOutput,
    // It writes to the host's output folder, replacing this session's earlier export of the same name.
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    handle: ({ session_id, path, name }) =>
      use(session_id, async (_sandbox, session) => {
        const local = await exportFile(runtime, session, path, name);
        return respond<z.infer<typeof exportOutput>>().text(`Exported ${path} to ${local.path} (${formatBytes(local.size)})`).structured({ path: local.path, bytes: local.size });
      }),
  });

  const closeSession = defineTool({
    name: 'python_close_session',
    title: 'Close a Python sandbox',
    description: 'Close a session: its processes stop and its files are deleted.',
    input: z.object({ session_id: sessionId }),
    output: closeOutput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    async handle({ session_id }) {
      const sessions = await runtime.sessions();
      const closed = await sessions.closeSession(session_id, owner);
      return respond<z.infer<typeof closeOutput>>()
        .text(closed ? `Closed session ${session_id}.` : `No open session ${session_id} (already closed or expired).`)
        .structured({ session_id, closed });
    },
  });

  return [createSession, pythonRun, shellRun, writeFileTool, readFileTool, listFilesTool, upload, downloadUrl, exportTool, closeSession];
}

async function renderCell(sandbox: Sandbox, cell: CellOutput, call: number, maxChars: number) {
  const stdout = await shown(sandbox, cell.stdout, 'stdout', maxChars, call);
  const stderr = await shown(sandbox, cell.stderr, 'stderr', Math.max(2000, maxChars / 4), call);
  const value = cell.value === undefined ? undefined : headAndTail(cell.value, maxChars).text;
  const report = cellReport(cell);
  const parts: string[] = [];
  if (report.notice) parts.push(`[note] ${report.notice}`);
  if (stdout.text) parts.push(stdout.text.replace(/\n$/, ''));
  if (stderr.text) parts.push(`[stderr]\n${stderr.text.replace(/\n$/, '')}`);
  if (value !== undefined) parts.push(`[result] ${value}`);
  if (report.error) parts.push(`[error] ${report.error.traceback.trim() || `${report.error.name}: ${report.error.value}`}`);
  if (cell.networkFailure) parts.push(`[note] ${noNetworkNote('sandbox_download_url')}`);
  if (report.restarted) parts.push(`[error] ${report.restarted}`);
  if (cell.files.length) parts.push(`[files]\n${describeChanges(cell.files)}`);
  if (cell.figures.length) parts.push(`[figures] ${cell.figures.length} shown as image${cell.figures.length > 1 ? 's' : ''}`);
  for (const note of [stdout.note, stderr.note]) if (note) parts.push(`[note] ${note}`);
  return respond<z.infer<typeof runOutput>>()
    .text(parts.join('\n') || '(no output)')
    .content(...cell.figures.map((figure) => ({ type: 'image' as const, data: figure, mimeType: 'image/png' })))
    .structured({
      stdout: stdout.text,
      stderr: stderr.text,
      ...(value !== undefined ? { value } : {}),
      ...(report.error ? { error: report.error } : {}),
      files: cell.files,
      figures: cell.figures.length,
      timed_out: cell.timedOut,
      ...(report.restarted ? { restarted: report.restarted } : {}),
      saved_output: [stdout.savedTo, stderr.savedTo].filter((path): path is string => Boolean(path)),
    });
}

function imageType(data: Buffer): string | undefined {
  if (data.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'image/jpeg';
  if (data.subarray(0, 6).toString('latin1') === 'GIF89a' || data.subarray(0, 6).toString('latin1') === 'GIF87a') return 'image/gif';
  if (data.subarray(0, 4).toString('latin1') === 'RIFF' && data.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  return undefined;
}
