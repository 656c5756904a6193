import type { ServerContext, Tool } from '@fathom/core';
import type { Config } from './config.js';
import type { FilesRuntime } from './runtime.js';
import { documentInfo } from './tools/info.js';
import { listFiles } from './tools/list.js';
import { convertToMarkdown, readDocument } from './tools/read.js';
import { searchDocument } from './tools/search.js';
import { extractTables } from './tools/tables.js';

/** MiroThinker was trained with no files server: both profiles share these tools. */
export function toolsFor({ runtime }: ServerContext<Config, FilesRuntime>): Tool[] {
  return [
    readDocument(runtime),
    documentInfo(runtime),
    searchDocument(runtime),
    extractTables(runtime),
    listFiles(),
    convertToMarkdown(runtime),
  ];
}
