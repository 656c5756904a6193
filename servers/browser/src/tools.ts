import type { Tool } from '@fathom/core';
import type { Config } from './config.js';

/** The tools of the chosen profile. */
export function toolsFor(_config: Config): Tool[] {
  return [];
}
