import type { Tool } from '@fathom/core';
import type { Config } from './config.js';
import { listFiles } from './tools/list.js';

/** The tools of the chosen profile. MiroThinker was trained with no files server: both profiles share these. */
export function toolsFor(config: Config): Tool[] {
  return [listFiles(config)];
}
