import { createHash } from 'node:crypto';

const TRACKING = /^(utm_|fbclid$|gclid$|mc_cid$|mc_eid$|ref_src$)/i;

/** One form per page: lower-case host, no fragment, no default port, no tracking parameters, no trailing slash. */
export function normalizeUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return raw.trim();
  }
  url.hash = '';
  url.hostname = url.hostname.toLowerCase().replace(/^www\./, '');
  if ((url.protocol === 'https:' && url.port === '443') || (url.protocol === 'http:' && url.port === '80')) url.port = '';
  for (const key of [...url.searchParams.keys()]) if (TRACKING.test(key)) url.searchParams.delete(key);
  url.searchParams.sort();
  let text = url.toString().replace(/^http:/, 'https:');
  if (text.endsWith('/') && url.pathname !== '/') text = text.slice(0, -1);
  if (url.pathname === '/' && !url.search) text = text.slice(0, -1);
  return text;
}

/** A short stable id for a result: the same page gets the same id from every provider. */
export function resultId(url: string): string {
  return createHash('sha256').update(normalizeUrl(url)).digest('hex').slice(0, 12);
}

/** Whether `url`'s host is `domain` or under it. */
export function inDomain(url: string, domain: string): boolean {
  try {
    const host = new URL(url).hostname.toLowerCase();
    const wanted = domain.toLowerCase().replace(/^\*?\./, '');
    return host === wanted || host.endsWith('.' + wanted);
  } catch {
    return false;
  }
}
