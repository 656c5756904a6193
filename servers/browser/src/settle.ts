import type { Download, Page, Request } from 'playwright-core';

/** The requests whose answers change what the page shows: documents, scripts, styles, and the page's own fetches. */
const WATCHED = new Set(['document', 'script', 'stylesheet', 'xhr', 'fetch']);
/** The longest wait for the requests an action started (a long poll never ends). */
const REQUESTS_LIMIT_MS = 3000;
/** The longest wait for a popup to reach DOMContentLoaded. */
const POPUP_LIMIT_MS = 5000;
/** The DOM counts as settled once it has not changed for this long after the next frames are drawn. */
const DOM_QUIET_MS = 100;
/** The longest wait for a DOM that keeps changing (an animation, a clock). */
const DOM_LIMIT_MS = 1500;

/** `work`, or nothing once `ms` have passed. */
function bounded(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([work.then(() => undefined, () => undefined), limit]).finally(() => clearTimeout(timer));
}

/**
 * In the page: resolves once two frames have been drawn and the DOM has then not changed for
 * `quiet` ms, or after `limit` ms.
 */
const DOM_SETTLED = (quiet: number, limit: number) => `new Promise((resolve) => {
  let timer;
  const observer = new MutationObserver(() => { clearTimeout(timer); timer = setTimeout(done, ${quiet}); });
  const cap = setTimeout(done, ${limit});
  function done() { observer.disconnect(); clearTimeout(timer); clearTimeout(cap); resolve(true); }
  observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
  requestAnimationFrame(() => requestAnimationFrame(() => { if (!timer) timer = setTimeout(done, ${quiet}); }));
})`;

/** Resolves once `page`'s DOM has settled (see DOM_SETTLED); a page that navigates away or does not answer ends the wait. */
function domSettled(page: Page): Promise<void> {
  return bounded(page.evaluate(DOM_SETTLED(DOM_QUIET_MS, DOM_LIMIT_MS)), DOM_LIMIT_MS + 500);
}

/**
 * Runs `act` on `page`, then waits until what it set off has landed, so that the answer shows it:
 * the DOM has settled, the requests it started (in any tab, so a popup's too) have answered, a
 * popup it opened has loaded, and a download it started has begun. Each wait is bounded.
 */
export async function settleAfter<T>(page: Page, act: () => Promise<T>): Promise<T> {
  const context = page.context();
  const pending = new Set<Request>();
  const popups: Page[] = [];
  let allAnswered: (() => void) | undefined;
  const onRequest = (request: Request) => {
    if (WATCHED.has(request.resourceType())) pending.add(request);
  };
  const onEnd = (request: Request) => {
    if (pending.delete(request) && pending.size === 0) allAnswered?.();
  };
  // A navigation that becomes a download has no answer for the page: its download has begun.
  const onDownload = (download: Download) => {
    for (const request of pending) if (request.url() === download.url()) onEnd(request);
  };
  const onPage = (popup: Page) => popups.push(popup);
  context.on('request', onRequest);
  context.on('requestfinished', onEnd);
  context.on('requestfailed', onEnd);
  context.on('page', onPage);
  page.on('download', onDownload);
  try {
    const result = await act();
    await domSettled(page);
    if (pending.size > 0) {
      await bounded(
        new Promise<void>((resolve) => {
          allAnswered = resolve;
        }),
        REQUESTS_LIMIT_MS,
      );
    }
    await Promise.all(popups.map((popup) => bounded(popup.waitForLoadState('domcontentloaded', { timeout: POPUP_LIMIT_MS }), POPUP_LIMIT_MS)));
    return result;
  } finally {
    context.off('request', onRequest);
    context.off('requestfinished', onEnd);
    context.off('requestfailed', onEnd);
    context.off('page', onPage);
    page.off('download', onDownload);
  }
}
