import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TEST_TIMEOUT_MS, describeChromium, eventually, startBrowser } from './harness.js';
import type { Browser } from './harness.js';

/** A key the server holds in its environment: the browser's processes must never see it. */
const SECRET = 'fathom-test-serper-key-5a1f0c';

interface BrowserProcess {
  pid: number;
  cmdline: string;
  status: string;
  environ: string;
}

const field = (status: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';

/** Every Chromium process descended from this test process. */
function browserProcesses(): BrowserProcess[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // the process exited meanwhile
    }
  }
  const found: BrowserProcess[] = [];
  const queue = [...(children.get(process.pid) ?? [])];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    queue.push(...(children.get(pid) ?? []));
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (!/chrom/i.test(cmdline)) continue;
      found.push({ pid, cmdline, status: readFileSync(`/proc/${pid}/status`, 'utf8'), environ: readFileSync(`/proc/${pid}/environ`, 'utf8') });
    } catch {
      // the process exited meanwhile
    }
  }
  return found;
}

describeChromium('the browser runs sandboxed, without the server’s rights or secrets', () => {
  let browser: Browser;
  const previous = process.env.SERPER_API_KEY;

  beforeAll(async () => {
    process.env.SERPER_API_KEY = SECRET;
    browser = await startBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    if (previous === undefined) delete process.env.SERPER_API_KEY;
    else process.env.SERPER_API_KEY = previous;
  });

  it('runs every Chromium process as an unprivileged uid, renderers in their own namespaces under seccomp, with none of the server’s environment', async () => {
    const session = await browser.session('sandboxed');
    const opened = await session.call('browser_navigate', { url: `${browser.site.url}/js.html` });
    expect(opened.isError, opened.text).toBe(false);

    const processes = browserProcesses();
    const renderers = processes.filter((entry) => entry.cmdline.includes('--type=renderer'));
    expect(renderers.length).toBeGreaterThan(0);
    const expectedUid = process.getuid?.() === 0 ? browser.config.browserUid : process.getuid?.();
    for (const entry of processes) {
      const uids = field(entry.status, 'Uid').split(/\s+/).map(Number);
      expect(uids, `uids of ${entry.cmdline.slice(0, 80)}`).toEqual([expectedUid, expectedUid, expectedUid, expectedUid]);
      expect(uids).not.toContain(0);
      expect(entry.environ).not.toContain('SERPER_API_KEY');
      expect(entry.environ).not.toContain(SECRET);
    }
    const ownUserNamespace = readlinkSync('/proc/self/ns/user');
    const ownPidNamespace = readlinkSync('/proc/self/ns/pid');
    for (const renderer of renderers) {
      expect(field(renderer.status, 'Seccomp')).toBe('2');
      expect(field(renderer.status, 'NoNewPrivs')).toBe('1');
      expect(readlinkSync(`/proc/${renderer.pid}/ns/user`)).not.toBe(ownUserNamespace);
      expect(readlinkSync(`/proc/${renderer.pid}/ns/pid`)).not.toBe(ownPidNamespace);
    }
  }, TEST_TIMEOUT_MS);

  it('still saves downloads into the server’s output folder and takes screenshots', async () => {
    const session = await browser.session('downloads');
    const page = await session.call('browser_navigate', { url: `${browser.site.url}/download.html` });
    const ref = /Download the report[^\n]*?\[ref=(m\d+)\]/.exec(page.text)?.[1];
    expect(ref).toBeDefined();
    await session.call('browser_click', { ref });
    let listed = '';
    await eventually(async () => (listed = (await session.call('browser_downloads')).text).includes('report.csv'), 'the download');
    const path = /saved at (.+)$/m.exec(listed)?.[1] ?? '';
    expect(path.startsWith(browser.output)).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe('year,ships\n1897,312\n');
    const shot = await session.call('browser_screenshot');
    expect(shot.images).toEqual(['image/png']);
    await browser.expectWitnessWorks(await browser.session('witness'));
  }, TEST_TIMEOUT_MS);
});
