import { mirothinkerPrompts, pyRepr } from '@fathom/core';
import type { ServerTools } from '../types.js';
import { cutChars } from './results.js';

/** MiroThinker's settings put these servers first, in this order, whatever the config says. */
export const LEADING_SERVERS = ['tool-python', 'search_and_scrape_webpage', 'jina_scrape_llm_summary'];

/** MiroThinker's tool blacklist (since December 2025). */
export const DEFAULT_HIDDEN_TOOLS: [string, string][] = [
  ['search_and_scrape_webpage', 'sogou_search'],
  ['tool-python', 'download_file_from_sandbox_to_local'],
];

export interface SystemPromptOptions {
  /** YYYY-MM-DD */
  date: string;
  /** [server, tool] pairs left out (MiroThinker's tool_blacklist); default: its blacklist. */
  hiddenTools?: [string, string][];
}

export interface Attachment {
  name: string;
  text: string;
}

function prompt(key: string): string {
  const text = mirothinkerPrompts()[key];
  if (typeof text !== 'string') throw new Error(`mirothinker-prompts.json has no text "${key}"`);
  return text;
}

/** The characters Python's str.isspace() accepts, which str.strip() removes. */
const PY_SPACE = '[\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const PY_STRIP = new RegExp(`^${PY_SPACE}+|${PY_SPACE}+$`, 'g');

/** Python's str.strip(). */
export function pyStrip(text: string): string {
  return text.replace(PY_STRIP, '');
}

/**
 * A prompt template with its `{name}` slots filled. A function replacement, so that `$$` or `$&`
 * in a task (LaTeX) is kept as written; slots without a value are left as they are.
 */
export function fillTemplate(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (slot, name: string) => (Object.hasOwn(values, name) ? String(values[name]) : slot));
}

/** The machine's local date, YYYY-MM-DD, as Python's date.today() gives it. */
export function localDate(now = new Date()): string {
  const pad = (value: number) => String(value).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

function orderServers(servers: ServerTools[]): ServerTools[] {
  const leading = LEADING_SERVERS.flatMap((name) => servers.filter((entry) => entry.server === name));
  return [...leading, ...servers.filter((entry) => !LEADING_SERVERS.includes(entry.server))];
}

export function renderSystemPrompt(servers: ServerTools[], options: SystemPromptOptions): string {
  const hidden = new Set((options.hiddenTools ?? DEFAULT_HIDDEN_TOOLS).map(([server, tool]) => `${server}/${tool}`));
  let text = fillTemplate(prompt('system_head'), { date: options.date });
  for (const server of orderServers(servers)) {
    text += `\n## Server name: ${server.server}\n`;
    for (const tool of server.tools) {
      if (hidden.has(`${server.server}/${tool.name}`)) continue;
      // An MCP tool may come without a description; Python prints that as None.
      const description = (tool.description as string | undefined) ?? 'None';
      text += `### Tool name: ${tool.name}\nDescription: ${description}\nInput JSON schema: ${pyRepr(tool.inputSchema)}\n`;
    }
  }
  return pyStrip(text + prompt('general_objective') + prompt('main_objective'));
}

interface FileKind {
  /** How the note names the file, e.g. "A PDF file". */
  noun: string;
  /** What the content was extracted as, e.g. "text". */
  extractedAs: string;
  heading: string;
  /** Media files are described by a caption, quoted instead of fenced. */
  caption?: boolean;
}

const GENERIC_FILE: FileKind = { noun: 'A file', extractedAs: 'markdown', heading: 'File Content' };

const FILE_KINDS: [string[], FileKind][] = [
  [['jpg', 'jpeg', 'png', 'gif', 'webp'], { noun: 'An image file', extractedAs: 'a detailed caption', heading: 'Image Content', caption: true }],
  [['wav', 'mp3', 'm4a'], { noun: 'An audio file', extractedAs: 'a transcription', heading: 'Audio Content', caption: true }],
  [['mp4', 'mov', 'avi', 'mkv', 'webm'], { noun: 'A video file', extractedAs: 'a detailed caption', heading: 'Video Content', caption: true }],
  [['py'], { noun: 'A Python file', extractedAs: 'text', heading: 'Python File' }],
  [['txt'], { noun: 'A text file', extractedAs: 'text', heading: 'Text File' }],
  [['md'], { noun: 'A markdown file', extractedAs: 'text', heading: 'Markdown File' }],
  [['sh'], { noun: 'A shell script file', extractedAs: 'text', heading: 'Shell Script File' }],
  [['yaml', 'yml'], { noun: 'A yaml file', extractedAs: 'text', heading: 'YAML File' }],
  [['toml'], { noun: 'A toml file', extractedAs: 'text', heading: 'TOML File' }],
  [['csv'], { noun: 'A csv file', extractedAs: 'text', heading: 'CSV File' }],
  [['json', 'jsonld'], { noun: 'A JSON file', extractedAs: 'JSON format', heading: 'JSON File' }],
  [['xlsx', 'xls'], { noun: 'An Excel file', extractedAs: 'a markdown table', heading: 'Excel File' }],
  [['pdf'], { noun: 'A PDF file', extractedAs: 'text', heading: 'PDF File' }],
  [['docx', 'doc'], { noun: 'A Word document', extractedAs: 'markdown', heading: 'Word Document' }],
  [['html', 'htm'], { noun: 'An HTML file', extractedAs: 'markdown', heading: 'HTML File' }],
  [['pptx', 'ppt'], { noun: 'A PowerPoint presentation', extractedAs: 'markdown', heading: 'PowerPoint Presentation' }],
  [['zip'], { noun: 'A ZIP archive', extractedAs: 'file list and contents', heading: 'ZIP Archive' }],
];

/** Attached file content sent to the model is cut at this many characters. */
export const FILE_MAX_CHARS = 200_000;

function fileKind(name: string): FileKind {
  const extension = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
  return FILE_KINDS.find(([extensions]) => extensions.includes(extension))?.[1] ?? GENERIC_FILE;
}

/** The section MiroThinker's process_input appends for a file attached to the task. */
export function fileSection(attachment: Attachment): string {
  const kind = fileKind(attachment.name);
  let section =
    `\n\nNote: ${kind.noun} '${attachment.name}' is associated with this task. ` +
    `The content has been extracted as ${kind.extractedAs} below. You may use available tools to process its content if necessary. ` +
    `If you need to further process this file in the sandbox, please upload it to the sandbox first.\n\n` +
    `## ${kind.heading}\nFile: ${attachment.name}\n\n`;
  if (kind.caption) section += `> ${attachment.text}\n\n`;
  else if (attachment.text) section += '```\n' + cutChars(attachment.text, FILE_MAX_CHARS, '\n... [File truncated]') + '\n```\n';
  return section;
}

export function firstUserMessage(task: string, attachment?: Attachment): string {
  return pyStrip(task + prompt('first_user_suffix') + (attachment ? fileSection(attachment) : ''));
}
