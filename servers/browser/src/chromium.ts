import { existsSync } from 'node:fs';

/** Where this machine's Chromium is: FATHOM_CHROMIUM_PATH, or the usual package paths. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = [env.FATHOM_CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];
  return candidates.find((path): path is string => !!path && existsSync(path));
}
