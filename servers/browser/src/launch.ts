import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FathomError } from '@fathom/core';

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

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'];
/** Passed through only for a browser with a window. */
const DISPLAY_VARIABLES = ['DISPLAY', 'WAYLAND_DISPLAY', 'XAUTHORITY', 'XDG_RUNTIME_DIR'];

const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

function launcherScript(chromium: string, setpriv: string, owner: Owner): string {
  const ids = `${owner.uid}:${owner.gid}`;
  return [
    '#!/bin/sh',
    '# Playwright creates the profile folder as root: hand it to the browser uid, then become that uid.',
    'for arg; do',
    `  case "$arg" in --user-data-dir=*) chown -R ${ids} -- "\${arg#--user-data-dir=}" || exit 1 ;; esac`,
    'done',
    `exec ${shellQuote(setpriv)} --reuid=${owner.uid} --regid=${owner.gid} --clear-groups --inh-caps=-all --bounding-set=-all --no-new-privs -- ${shellQuote(chromium)} "$@"`,
    '',
  ].join('\n');
}

/**
 * A private folder for one browser process, and how to start it: as the unprivileged
 * `uid` when the server is root (Chromium's sandbox refuses to run as root), with an environment
 * of its own so that the browser never sees the server's API keys.
 */
export function prepareLaunch(chromium: string, options: { uid: number; headless: boolean }): BrowserLaunch {
  const owner = process.getuid?.() === 0 ? { uid: options.uid, gid: options.uid } : undefined;
  const setpriv = SETPRIV.find((path) => existsSync(path));
  if (owner && !setpriv) {
    throw new FathomError('unavailable', 'setpriv was not found: a server running as root needs it to start Chromium as an unprivileged user', {
      hint: 'Install util-linux (apt-get install util-linux), or run the browser server as an unprivileged user.',
    });
  }
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
    if (owner && setpriv) {
      executablePath = join(dir, 'launch');
      writeFileSync(executablePath, launcherScript(chromium, setpriv, owner), { mode: 0o755 });
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
