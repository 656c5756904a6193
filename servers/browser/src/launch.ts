import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asUser } from '@fathom/core';

/** The uid and gid the browser's processes and files belong to. */
export interface Owner {
  uid: number;
  gid: number;
}

/** How to start Chromium so that it holds none of the server's rights. */
export interface BrowserLaunch {
  /** Chromium itself, or (server running as root) a launcher that drops to `owner` first. */
  executablePath: string;
  /** The browser's whole environment: none of the server's variables. */
  env: Record<string, string>;
  /** Where Chromium writes downloads; the server copies them out. */
  downloadsPath: string;
  /** Set when the server is root and the browser runs as another uid. */
  owner: Owner | undefined;
  /** The folder holding the launcher, the browser's home and its downloads. */
  dir: string;
}

/**
 * Debian's and Ubuntu's chromium commands are shell scripts that export Google API keys (which turn
 * on sign-in, autofill and other Google services) and add flags (remote extensions among them)
 * before they run the browser itself from here.
 */
const WRAPPED_BROWSERS: Record<string, string> = {
  '/usr/bin/chromium': '/usr/lib/chromium/chromium',
  '/usr/bin/chromium-browser': '/usr/lib/chromium-browser/chromium-browser',
};

/** The browser program itself: `path`, or the program a distribution's wrapper script of that name runs. */
export function browserProgram(path: string): string {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return path;
  }
  const wrapped = WRAPPED_BROWSERS[real];
  if (!wrapped || !existsSync(wrapped)) return path;
  const start = Buffer.alloc(2);
  const fd = openSync(real, 'r');
  try {
    readSync(fd, start, 0, 2, 0);
  } finally {
    closeSync(fd);
  }
  return start.toString() === '#!' ? wrapped : path;
}

/** Passed through only for a browser with a window. */
const DISPLAY_VARIABLES = ['DISPLAY', 'WAYLAND_DISPLAY', 'XAUTHORITY', 'XDG_RUNTIME_DIR'];

const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

function launcherScript(chromium: string, owner: Owner): string {
  const ids = `${owner.uid}:${owner.gid}`;
  return [
    '#!/bin/sh',
    '# Playwright creates the profile folder as root: hand it to the browser uid, then become that uid.',
    'for arg; do',
    `  case "$arg" in --user-data-dir=*) chown -R ${ids} -- "\${arg#--user-data-dir=}" || exit 1 ;; esac`,
    'done',
    `exec ${[...asUser(owner.uid, owner.gid), chromium].map(shellQuote).join(' ')} "$@"`,
    '',
  ].join('\n');
}

/**
 * A private folder for one browser process, and how to start it: as the unprivileged
 * `uid` when the server is root (Chromium's sandbox refuses to run as root), with an environment
 * of its own so that the browser never sees the server's API keys.
 */
export function prepareLaunch(command: string, options: { uid: number; headless: boolean }): BrowserLaunch {
  const chromium = browserProgram(command);
  const owner = process.getuid?.() === 0 ? { uid: options.uid, gid: options.uid } : undefined;
  // Fails at once, with its own advice, where setpriv is missing.
  const script = owner ? launcherScript(chromium, owner) : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'fathom-browser-'));
  try {
    // The browser uid may pass through (not list) the folder to reach its own home and downloads.
    if (owner) chmodSync(dir, 0o711);
    const own = (name: string) => {
      const path = join(dir, name);
      mkdirSync(path, { mode: 0o700 });
      if (owner) chownSync(path, owner.uid, owner.gid);
      return path;
    };
    const home = own('home');
    const downloadsPath = own('downloads');
    const tmp = own('tmp');
    let executablePath = chromium;
    if (script) {
      executablePath = join(dir, 'launch');
      writeFileSync(executablePath, script, { mode: 0o755 });
    }
    const env: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, TMPDIR: tmp, LANG: 'C.UTF-8' };
    const passed = options.headless ? ['TZ'] : ['TZ', ...DISPLAY_VARIABLES];
    for (const key of passed) {
      const value = process.env[key];
      if (value) env[key] = value;
    }
    return { executablePath, env, downloadsPath, owner, dir };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The hint for a Chromium that did not start, from what it printed. */
export function launchHint(message: string, sandbox: boolean): string {
  if (sandbox && /No usable sandbox|namespace/i.test(message)) {
    return (
      "Chromium's sandbox needs unprivileged user namespaces: enable them (sysctl kernel.unprivileged_userns_clone=1; " +
      'on Ubuntu, an AppArmor profile for Chromium), or as a last resort start the server with --no-browser-sandbox.'
    );
  }
  return 'Check that Chromium runs on this machine (chromium --headless --version), or set FATHOM_CHROMIUM_PATH.';
}
