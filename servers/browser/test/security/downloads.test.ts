import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFathomError } from '@fathom/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyOut } from '../../src/downloads.js';
import { TEST_TIMEOUT_MS, describeChromium, eventually, startBrowser } from './harness.js';
import type { Browser, Session } from './harness.js';

/**
 * Asks for the session's downloads until `until(everything, latest)` holds: `everything` joins
 * `first` and every answer (events come in whichever answer is next), `latest` is the last one.
 */
async function answersUntil(session: Session, first: string, until: (everything: string, latest: string) => boolean, what: string): Promise<string> {
  let everything = first;
  await eventually(async () => {
    const latest = (await session.call('browser_downloads')).text;
    everything += `\n${latest}`;
    return until(everything, latest);
  }, what).catch((error: unknown) => {
    throw new Error(`${String(error)}; answers so far:${everything.slice(-3000)}`);
  });
  return everything;
}

const cancelledCount = (text: string) => [...text.matchAll(/Cancelled (\d+) downloads? the page started/g)].reduce((sum, match) => sum + Number(match[1]), 0);
const savedFiles = (browser: Browser, session: string) => {
  const dir = join(browser.output, 'browser', session);
  return existsSync(dir) ? readdirSync(dir) : [];
};

describeChromium('a page that starts downloads by itself (default limits)', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await startBrowser();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('keeps at most the session’s number of downloads, cancels the rest and says so', async () => {
    const attacker = await browser.session('flood');
    const opened = await attacker.call('browser_navigate', { url: `${browser.hostile.origin}/many-downloads?n=50&bytes=16` });
    expect(opened.isError, opened.text).toBe(false);
    const limit = browser.config.maxDownloads;
    expect(limit).toBeLessThan(50);
    const seen = await answersUntil(
      attacker,
      opened.text,
      (everything, latest) => cancelledCount(everything) === 50 - limit && (latest.match(/^file-\d+.*\.bin \(16 bytes\)/gm)?.length ?? 0) === limit,
      'the downloads to settle',
    );
    expect(seen).toContain(`this session may start at most ${limit} (FATHOM_MAX_DOWNLOADS)`);
    expect(seen).toContain(`This session started its limit of ${limit} downloads`);
    expect(savedFiles(browser, 'flood')).toHaveLength(limit);

    const witness = await browser.session('witness');
    await browser.expectWitnessWorks(witness);
    const page = await witness.call('browser_navigate', { url: `${browser.site.url}/download.html` });
    await witness.call('browser_click', { ref: /Download the report[^\n]*?\[ref=(m\d+)\]/.exec(page.text)?.[1] });
    await eventually(async () => (await witness.call('browser_downloads')).text.includes('report.csv'), 'the witness download');
    expect(savedFiles(browser, 'witness')).toEqual(['report.csv']);
  }, TEST_TIMEOUT_MS);
});

describeChromium('a page that downloads more bytes than a session keeps', () => {
  let browser: Browser;

  beforeAll(async () => {
    browser = await startBrowser({ 'max-download-total-mb': '1' });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('keeps files up to the session’s total and discards the rest, saying why', async () => {
    const attacker = await browser.session('heavy');
    const opened = await attacker.call('browser_navigate', { url: `${browser.hostile.origin}/many-downloads?n=5&bytes=400000` });
    const seen = await answersUntil(attacker, opened.text, (everything) => (everything.match(/would pass 1 MB/g)?.length ?? 0) === 3, 'three refusals');
    expect(seen).toContain("this session's downloads would pass 1 MB (FATHOM_MAX_DOWNLOAD_TOTAL_MB)");
    expect(savedFiles(browser, 'heavy')).toHaveLength(2);
    await browser.expectWitnessWorks(await browser.session('witness'));
  }, TEST_TIMEOUT_MS);
});

describe('copying a download out of the browser’s folder', () => {
  const root = mkdtempSync(join(tmpdir(), 'fathom-copy-out-'));
  const browserDir = join(root, 'downloads');
  const output = join(root, 'output');
  // As root the browser runs as its own uid; otherwise as the server's.
  const owner = process.getuid?.() === 0 ? { uid: 1_999_000_000, gid: 1_999_000_000 } : undefined;
  const browserFile = (name: string, content: string) => {
    const path = join(browserDir, name);
    writeFileSync(path, content);
    if (owner) chownSync(path, owner.uid, owner.gid);
    return path;
  };
  const refusal = async (promise: Promise<unknown>) => {
    const error = await promise.then(() => undefined, (caught: unknown) => caught);
    if (!isFathomError(error)) throw new Error(`expected a FathomError, got ${String(error)}`);
    return error;
  };

  beforeAll(() => {
    mkdirSync(browserDir);
    mkdirSync(output);
  });

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('copies a plain file the browser wrote', async () => {
    const saved = await copyOut(browserFile('a', 'report'), output, 'report.txt', owner, 1000);
    expect(saved).toEqual({ path: join(output, 'report.txt'), bytes: 6 });
    const again = await copyOut(browserFile('b', 'report'), output, 'report.txt', owner, 1000);
    expect(again.path).toBe(join(output, 'report (1).txt'));
  }, TEST_TIMEOUT_MS);

  it('never follows a link, opens a pipe or copies a file with another name or owner', async () => {
    const secret = join(root, 'secret.txt');
    writeFileSync(secret, 'server secret');
    symlinkSync(secret, join(browserDir, 'link'));
    expect((await refusal(copyOut(join(browserDir, 'link'), output, 'link.txt', owner, 1000))).code).toBe('forbidden');
    execFileSync('mkfifo', [join(browserDir, 'pipe')]);
    if (owner) chownSync(join(browserDir, 'pipe'), owner.uid, owner.gid);
    expect((await refusal(copyOut(join(browserDir, 'pipe'), output, 'pipe.txt', owner, 1000))).code).toBe('forbidden');
    const linked = browserFile('shared', 'shared');
    linkSync(linked, join(root, 'second-name'));
    expect((await refusal(copyOut(linked, output, 'shared.txt', owner, 1000))).code).toBe('forbidden');
    if (owner) {
      expect((await refusal(copyOut(secret, output, 'secret.txt', owner, 1000))).code).toBe('forbidden');
    }
    expect((await refusal(copyOut(browserFile('big', 'x'.repeat(2000)), output, 'big.bin', owner, 1000))).code).toBe('too_large');
    expect(readdirSync(output).sort()).toEqual(['report (1).txt', 'report.txt']);
  }, TEST_TIMEOUT_MS);
});
