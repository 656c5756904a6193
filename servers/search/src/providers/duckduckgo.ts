import { decodeHtmlEntities } from '@fathom/core';
import { z } from 'zod';
import type { SearchRequest, TimeRange } from '../types.js';
import { call, DAY_OR_LONGER, malformed, plainText, rateLimited, toResults, trimSlash, withSiteFilters } from './common.js';
import type { Classify, ProviderInfo, RawResult } from './common.js';
import { defineProvider } from './define.js';

const info: ProviderInfo = { name: 'duckduckgo', label: 'DuckDuckGo' };

/** DuckDuckGo has no past-hour filter: the past day is the closest. */
const DF: Record<TimeRange, string> = { hour: 'd', day: 'd', week: 'w', month: 'm', year: 'y' };

/** The `kl` region values of the HTML endpoint's region menu: <country>-<language>, in DuckDuckGo's own codes. */
const REGIONS = (
  'ar-es au-en at-de be-fr be-nl br-pt bg-bg ca-en ca-fr ct-ca cl-es cn-zh co-es hr-hr cz-cs dk-da ee-et fi-fi fr-fr de-de ' +
  'gr-el hk-tzh hu-hu is-is in-en id-en ie-en il-en it-it jp-jp kr-kr lv-lv lt-lt my-en mx-es nl-nl nz-en no-no pk-en pe-es ' +
  'ph-en pl-pl pt-pt ro-ro ru-ru xa-ar sg-en sk-sk sl-sl za-en es-ca es-es se-sv ch-de ch-fr tw-tzh th-en tr-tr us-en us-es ' +
  'ua-uk uk-en vn-en'
).split(' ');

/** ISO country codes that DuckDuckGo spells differently. */
const COUNTRY: Record<string, string> = { gb: 'uk', sa: 'xa', si: 'sl' };
/** ISO language codes that DuckDuckGo spells differently. */
const LANGUAGE: Record<string, string[]> = { ja: ['jp'], ko: ['kr'], zh: ['zh', 'tzh'] };

/** `kl` for a region, preferring the entry in the requested language: us + es → us-es; us → us-en. */
function kl(request: SearchRequest): string | undefined {
  if (!request.region) return undefined;
  const region = request.region.toLowerCase();
  const country = COUNTRY[region] ?? region;
  const candidates = REGIONS.filter((code) => code.startsWith(`${country}-`));
  const language = request.language?.toLowerCase();
  const wanted = language ? (LANGUAGE[language] ?? [language]) : [];
  return candidates.find((code) => wanted.includes(code.slice(country.length + 1))) ?? candidates[0];
}

/** The form the HTML endpoint's search box posts; later pages add the fields of its "Next" form. */
function form(request: SearchRequest): URLSearchParams {
  const params = new URLSearchParams({ q: withSiteFilters(request.query, request.includeDomains, request.excludeDomains), b: '' });
  const region = kl(request);
  if (region) params.set('kl', region);
  if (request.timeRange) params.set('df', DF[request.timeRange]);
  const offset = (request.page - 1) * request.num;
  if (offset > 0) {
    params.set('s', String(offset));
    params.set('dc', String(offset + 1));
    params.set('v', 'l');
    params.set('o', 'json');
    params.set('api', 'd.js');
  }
  return params;
}

/** 202 is DuckDuckGo's "unusual traffic" challenge page. */
const classify: Classify = (response) =>
  response.status === 202 || (response.status === 200 && /anomaly-modal|challenge-form/.test(response.text()))
    ? rateLimited(info, response.status)
    : undefined;

const RESULT_START = /<div\s+class="result(?:\s[^"]*)?"[^>]*>/g;
const TITLE = /<a\b[^>]*class="[^"]*\bresult__a\b[^"]*"[^>]*>([\s\S]*?)<\/a>/;
const SNIPPET = /<(a|div|td)\b[^>]*class="[^"]*\bresult__snippet\b[^"]*"[^>]*>([\s\S]*?)<\/\1>/;
const DATE = /<span>(?:\s|&nbsp;)*(\d{4}-\d{2}-\d{2}T[\d:.]+Z?)\s*<\/span>/;

/** The destination of a result link: DuckDuckGo's /l/?uddg= redirect unwrapped; ads and its own pages dropped. */
function destination(href: string): string | undefined {
  const absolute = href.startsWith('//') ? `https:${href}` : href;
  let url: URL;
  try {
    url = new URL(absolute, 'https://duckduckgo.com/');
  } catch {
    return undefined;
  }
  if (url.hostname === 'duckduckgo.com' || url.hostname.endsWith('.duckduckgo.com')) {
    return url.pathname === '/l/' ? (url.searchParams.get('uddg') ?? undefined) : undefined;
  }
  // The last row of an exhausted result list links to a Google search titled "EOF".
  if (/(^|\.)google\.[a-z.]+$/.test(url.hostname) && url.pathname === '/search') return undefined;
  return absolute;
}

function parseResults(html: string): RawResult[] {
  const starts = [...html.matchAll(RESULT_START)];
  const results: RawResult[] = [];
  starts.forEach((start, index) => {
    if (/result--ad|result--no-result/.test(start[0])) return;
    const block = html.slice(start.index, starts[index + 1]?.index ?? html.length);
    const title = TITLE.exec(block);
    const href = title && /\bhref="([^"]*)"/.exec(title[0])?.[1];
    const url = href ? destination(decodeHtmlEntities(href)) : undefined;
    if (!title || !url) return;
    const published = DATE.exec(block)?.[1];
    results.push({ title: plainText(title[1] ?? ''), url, snippet: plainText(SNIPPET.exec(block)?.[2] ?? ''), published });
  });
  return results;
}

export const duckduckgoProvider = defineProvider({
  name: 'duckduckgo',
  title: 'DuckDuckGo',
  description: 'DuckDuckGo: its HTML results page, no key needed (the fallback after the configured providers)',
  config: {
    duckduckgoUrl: z.string().url().default('https://html.duckduckgo.com').describe('DuckDuckGo HTML endpoint'),
  },
  byDefault: 'always',
  timeRanges: DAY_OR_LONGER,
  endpoint: (config) => config.duckduckgoUrl,
  async search(request, context) {
    const response = await call(
      info,
      context,
      `${trimSlash(context.config.duckduckgoUrl)}/html/`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html,application/xhtml+xml' },
        body: form(request).toString(),
      },
      classify,
    );
    const html = response.text();
    if (!/id="links"|class="serp__results"|class="result__a"|class="no-results"/.test(html)) {
      throw malformed(info, 'no result list in the page');
    }
    return toResults('duckduckgo', parseResults(html).slice(0, request.num), request);
  },
});
