import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, isFathomError, loadConfig } from '@fathom/core';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { BrowserManager } from '../src/manager.js';
import type { BrowserSession } from '../src/session.js';
import { configSchema } from '../src/config.js';
import { describeChromium } from './chromium.js';

const html = (res: ServerResponse, body: string, headers: Record<string, string> = {}) => {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...headers });
  res.end(body);
};

async function listen(host: string, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; origin: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return { server, origin: `http://${host}:${(server.address() as AddressInfo).port}` };
}

/** Resolves when `predicate` holds, polling. */
async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function chromiumChildren(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === process.pid && stat.includes('(chrom')) pids.push(Number(entry));
    } catch {
      // the process exited meanwhile
    }
  }
  return pids;
}

describeChromium('BrowserManager', () => {
  let site: { server: Server; origin: string };
  const hanging: ServerResponse[] = [];
  let output: string;
  let manager: BrowserManager;

  const configFor = (flags: Record<string, string> = {}) =>
    loadConfig(configSchema, {
      server: 'browser',
      flags: { 'egress-allow': '127.0.0.1', 'output-dir': output, 'max-download-mb': '1', 'navigation-timeout-seconds': '3', 'max-contexts': '4', ...flags },
      env: {},
      cwd: output,
    });

  beforeAll(async () => {
    output = mkdtempSync(join(tmpdir(), 'fathom-browser-test-'));
    site = await listen('127.0.0.1', (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      switch (url.pathname) {
        case '/':
          return html(res, '<title>Home</title><h1>Hello</h1>');
        case '/cookie':
          return html(res, '<title>Cookie</title>', { 'set-cookie': 'visited=yes; Path=/' });
        case '/dialog':
          return html(res, '<title>Dialog</title><script>alert("Hello"); confirm("Sure?")</script>');
        case '/popup':
          return html(res, '<title>Opener</title><a id="open" href="/" target="_blank">open</a>');
        case '/downloads':
          return html(res, '<title>Files</title><a id="small" href="/file/small" download>small</a><a id="big" href="/file/big" download>big</a>');
        case '/file/small':
          res.writeHead(200, { 'content-type': 'text/plain', 'content-disposition': 'attachment; filename="notes.txt"' });
          return res.end('hello download');
        case '/file/big': {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="bomb.bin"' });
          let sent = 0;
          const timer = setInterval(() => {
            if (sent >= 3 * 1024 * 1024 || res.destroyed) {
              clearInterval(timer);
              res.end();
              return;
            }
            res.write(Buffer.alloc(128 * 1024));
            sent += 128 * 1024;
          }, 20);
          res.on('close', () => clearInterval(timer));
          return;
        }
        case '/hang':
          hanging.push(res);
          return;
        default:
          res.writeHead(404);
          res.end('not found');
      }
    });
    manager = new BrowserManager({ config: configFor(), logger: createLogger('test', { level: 'silent' }) });
  });

  /** The sessions a test opened, closed after it: no test sees another's tabs, cookies or late navigations. */
  const opened = new Set<string>();
  const open = (id: string) => {
    opened.add(id);
    return manager.session(id);
  };

  afterEach(async () => {
    await Promise.all([...opened].map((id) => manager.closeSession(id)));
    opened.clear();
  });

  afterAll(async () => {
    await manager?.close();
    for (const res of hanging) res.destroy();
    site?.server.close();
    site?.server.closeAllConnections();
    if (output) rmSync(output, { recursive: true, force: true });
  });

  async function refusal(promise: Promise<unknown>) {
    const error = await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    );
    if (!isFathomError(error)) throw new Error(`expected a FathomError, got ${String(error)}`);
    return error;
  }

  it('navigates and reports title and status', async () => {
    const session = await open('a');
    const result = await session.navigate(`${site.origin}/`);
    expect(result).toEqual({ url: `${site.origin}/`, title: 'Home', status: 200 });
    const missing = await session.navigate(`${site.origin}/nowhere`);
    expect(missing.status).toBe(404);
  });

  it('keeps sessions isolated', async () => {
    const a = await open('a');
    const b = await open('b');
    await a.navigate(`${site.origin}/cookie`);
    expect((await a.context.cookies()).map((cookie) => cookie.name)).toEqual(['visited']);
    expect(await b.context.cookies()).toEqual([]);
    expect(await open('a')).toBe(a);
  });

  it('caps the number of sessions', async () => {
    for (const id of ['c1', 'c2', 'c3', 'c4']) await open(id);
    const error = await refusal(open('c5'));
    expect(error.code).toBe('rate_limited');
    expect(error.hint).toBeTruthy();
    await manager.closeSession('c1');
    await open('c5');
  });

  it('dismisses dialogs and reports them', async () => {
    const session = await open('a');
    session.takeEvents();
    const result = await session.navigate(`${site.origin}/dialog`);
    expect(result.title).toBe('Dialog');
    expect(session.takeEvents()).toEqual(['Dismissed an alert: "Hello"', 'Dismissed a confirm: "Sure?"']);
    expect(session.takeEvents()).toEqual([]);
  });

  it('turns a popup into a new current tab', async () => {
    const session = await open('a');
    session.takeEvents();
    await session.navigate(`${site.origin}/popup`);
    const opener = session.current;
    await opener.click('#open');
    await until(() => session.tabs.length === 2);
    expect(session.current).not.toBe(opener);
    expect(session.currentIndex).toBe(1);
    expect(session.takeEvents()).toEqual(['A popup opened as tab 1, which is now the current tab.']);
    await session.current.waitForLoadState('domcontentloaded');
    expect(await session.current.title()).toBe('Home');
    await session.closeTab(1);
    expect(session.tabs).toEqual([opener]);
    expect(session.current).toBe(opener);
  });

  it('opens, selects and closes tabs', async () => {
    const session = await open('tabs');
    const result = await session.newTab(`${site.origin}/`);
    expect(result.title).toBe('Home');
    expect(session.tabs.length).toBe(2);
    expect(session.selectTab(0)).toBe(session.tabs[0]);
    expect(() => session.selectTab(5)).toThrow(/no tab 5/);
    await session.closeTab(0);
    await session.closeTab(0);
    expect(session.tabs.length).toBe(1);
    expect(session.current.url()).toBe('about:blank');
  });

  it('saves downloads to the output folder and cancels oversized ones', async () => {
    const session = await open('dl');
    await session.navigate(`${site.origin}/downloads`);
    await session.current.click('#small');
    await until(() => session.downloads.length === 1);
    const [saved] = session.downloads;
    expect(saved?.name).toBe('notes.txt');
    expect(saved?.path).toBe(join(output, 'browser', 'dl', 'notes.txt'));
    expect(readFileSync(saved?.path ?? '', 'utf8')).toBe('hello download');
    expect(saved?.bytes).toBe(14);
    expect(saved?.url).toBe(`${site.origin}/file/small`);

    await session.current.click('#small');
    await until(() => session.downloads.length === 2);
    expect(session.downloads[1]?.name).toBe('notes (1).txt');

    session.takeEvents();
    await session.current.click('#big');
    let events: string[] = [];
    await until(() => {
      events.push(...session.takeEvents());
      return events.some((event) => event.includes('bomb.bin'));
    });
    expect(events).toContain('Cancelled the download of bomb.bin: it is larger than 1 MB.');
    expect(session.downloads.length).toBe(2);
    expect(existsSync(join(output, 'browser', 'dl', 'bomb.bin'))).toBe(false);
    events = [];
  });

  it('times out a page that never loads, and the session goes on', async () => {
    const session = await open('slow');
    const started = Date.now();
    const error = await refusal(session.navigate(`${site.origin}/hang`));
    expect(error.code).toBe('timeout');
    expect(error.message).toContain('did not finish loading');
    expect(Date.now() - started).toBeLessThan(8000);
    expect((await session.navigate(`${site.origin}/`)).title).toBe('Home');
  });

  it('replaces a crashed tab and keeps other sessions alive', async () => {
    const session = await open('crash');
    const other = await open('a');
    await other.navigate(`${site.origin}/`);
    await session.navigate(`${site.origin}/`);
    const page = session.current;
    const cdp = await session.context.newCDPSession(page);
    await cdp.send('Page.crash').catch(() => undefined);
    await until(() => session.current !== page);
    expect(session.tabs).not.toContain(page);
    expect(session.takeEvents().some((event) => event.includes('crashed'))).toBe(true);
    expect((await session.navigate(`${site.origin}/`)).title).toBe('Home');
    expect(await other.current.title()).toBe('Home');
  });

  it('relaunches a killed browser and says the session lost its pages', async () => {
    const session = await open('a');
    await session.navigate(`${site.origin}/cookie`);
    const pids = chromiumChildren();
    expect(pids.length).toBeGreaterThan(0);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await until(() => session.closed);
    const again = await open('a');
    expect(again).not.toBe(session);
    const notes = again.takeNotes();
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/lost/);
    expect(again.takeNotes()).toEqual([]);
    expect(await again.context.cookies()).toEqual([]);
    expect((await again.navigate(`${site.origin}/`)).title).toBe('Home');
    const fresh = await open('never-used-before');
    expect(fresh.takeNotes()).toEqual([]);
  });

  it('closes idle sessions, measured from their last use', async () => {
    let now = 1_000_000;
    const ttlMs = 60_000;
    const short = new BrowserManager({ config: configFor(), logger: createLogger('test', { level: 'silent' }), ttlMs, clock: () => now });
    try {
      const session: BrowserSession = await short.session('idle');
      now += ttlMs - 1000;
      await short.sweep();
      expect(session.closed).toBe(false);
      expect(await short.session('idle')).toBe(session);
      now += ttlMs - 1000;
      await short.sweep();
      expect(session.closed).toBe(false);
      now += 2000;
      await short.sweep();
      expect(session.closed).toBe(true);
      expect(short.sessionCount).toBe(0);
      const again = await short.session('idle');
      expect(again).not.toBe(session);
      expect(again.takeNotes()).toEqual([]);
    } finally {
      await short.close();
    }
  });

  it('sweeps by itself, a quarter of the time to live apart', async () => {
    let now = 1_000_000;
    const short = new BrowserManager({ config: configFor(), logger: createLogger('test', { level: 'silent' }), ttlMs: 1000, clock: () => now });
    try {
      const session = await short.session('idle');
      now += 1001;
      await until(() => session.closed, 5000);
      expect(short.sessionCount).toBe(0);
    } finally {
      await short.close();
    }
  });

  it('reports a missing Chromium with a hint', async () => {
    const missing = new BrowserManager({ config: configFor({ 'chromium-path': '/nonexistent/chromium' }), logger: createLogger('test', { level: 'silent' }) });
    try {
      const error = await refusal(missing.session('x'));
      expect(error.code).toBe('unavailable');
      expect(error.hint).toContain('FATHOM_CHROMIUM_PATH');
    } finally {
      await missing.close();
    }
  });
});
