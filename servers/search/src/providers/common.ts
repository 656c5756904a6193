import { decodeHtmlEntities, FathomError } from '@fathom/core';
import type { HttpResponse, RequestOptions } from '@fathom/core';
import type { z } from 'zod';
import type { ProviderContext, SearchRequest, SearchResult, TimeRange } from '../types.js';
import { inDomain, resultId } from '../urls.js';

/** How a provider is named in messages, and the environment variable holding its key, if it has one. */
export interface ProviderInfo {
  name: string;
  label: string;
  keyEnv?: string;
}

/** Time ranges a provider applies as asked. */
export const EXACT_RANGES: Readonly<Record<TimeRange, TimeRange>> = { hour: 'hour', day: 'day', week: 'week', month: 'month', year: 'year' };
/** For providers whose shortest range is a day. */
export const DAY_OR_LONGER: Readonly<Record<TimeRange, TimeRange>> = { ...EXACT_RANGES, hour: 'day' };

/** Answers other than 2xx that a provider gives a meaning of its own, e.g. Brave's 422 for a bad key. */
export type Classify = (response: HttpResponse) => FathomError | undefined;

type CallOptions = Pick<RequestOptions, 'method' | 'headers' | 'body'>;

/** One request to a provider: no retries (the engine falls back instead), the caller's signal, status mapped to FathomError. */
export async function call(
  info: ProviderInfo,
  context: ProviderContext,
  url: string,
  options: CallOptions = {},
  classify?: Classify,
): Promise<HttpResponse> {
  const response = await context.http.request(url, { ...options, retries: 0, signal: context.signal });
  const special = classify?.(response);
  if (special) throw special;
  if (response.status >= 200 && response.status < 300) return response;
  throw statusError(info, response);
}

export function statusError(info: ProviderInfo, response: HttpResponse): FathomError {
  const { status } = response;
  const detail = errorDetail(response);
  const details = { provider: info.name, status, ...(detail ? { detail } : {}) };
  if (status === 401 || status === 403) return refused(info, status, { detail });
  if (status === 429) return rateLimited(info, status, parseRetryAfter(response.headers['retry-after']));
  if (status >= 500) {
    return new FathomError('upstream', `${info.label} failed with HTTP ${status}${detail ? `: ${detail}` : ''}`, {
      hint: 'The provider is having trouble. Try again later, or use another provider.',
      details,
    });
  }
  return new FathomError('upstream', `${info.label} answered HTTP ${status}${detail ? `: ${detail}` : ''}`, {
    hint: 'The provider did not accept the request. Try a simpler query, or use another provider.',
    details,
  });
}

export function refused(info: ProviderInfo, status: number, options: { detail?: string; hint?: string } = {}): FathomError {
  const { detail, hint } = options;
  const details = { provider: info.name, status, ...(detail ? { detail } : {}) };
  if (!info.keyEnv) {
    return new FathomError('forbidden', `${info.label} refused the request (HTTP ${status})${detail ? `: ${detail}` : ''}`, {
      hint: hint ?? 'The endpoint does not allow this client. Check its configuration, or use another provider.',
      details,
    });
  }
  return new FathomError('forbidden', `${info.label} refused the API key (HTTP ${status})`, {
    hint: hint ?? `Check ${info.keyEnv}: it must hold a valid, active ${info.label} API key. Or use another provider.`,
    details,
  });
}

export function rateLimited(info: ProviderInfo, status: number, retryAfterMs?: number): FathomError {
  const seconds = retryAfterMs === undefined ? undefined : Math.ceil(retryAfterMs / 1000);
  return new FathomError('rate_limited', `${info.label} is rate limiting requests (HTTP ${status})`, {
    hint: seconds === undefined ? 'Slow down, or use another provider.' : `Try again in ${seconds} s, or use another provider.`,
    details: { provider: info.name, status, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) },
  });
}

/** The account's credits or plan limit are used up: waiting a little does not help. */
export function quotaExceeded(info: ProviderInfo, status: number, detail?: string): FathomError {
  return new FathomError('rate_limited', `${info.label} says the account's usage limit is reached (HTTP ${status})${detail ? `: ${detail}` : ''}`, {
    hint: `Top up or raise the limit of the ${info.label} account${info.keyEnv ? ` behind ${info.keyEnv}` : ''}, or use another provider.`,
    details: { provider: info.name, status, quota: true },
  });
}

export function malformed(info: ProviderInfo, what: string): FathomError {
  return new FathomError('upstream', `${info.label}'s answer was not in the expected format (${what})`, {
    hint: 'The provider may have changed its API, or something else answered at its address. Try again later, or use another provider.',
    details: { provider: info.name },
  });
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** A short reason from an error body: the usual JSON message fields, or the start of the text. */
export function errorDetail(response: HttpResponse): string | undefined {
  const text = response.text().trim();
  if (!text) return undefined;
  try {
    const found = findMessage(JSON.parse(text) as unknown);
    if (found) return shorten(found);
  } catch {
    // Not JSON: fall back to the text itself.
  }
  return shorten(plainText(text));
}

function findMessage(value: unknown, depth = 0): string | undefined {
  if (typeof value === 'string') return value;
  if (!value || typeof value !== 'object' || depth > 2) return undefined;
  const record = value as Record<string, unknown>;
  for (const key of ['detail', 'message', 'error', 'info', 'code']) {
    const found = findMessage(record[key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

function shorten(text: string, max = 200): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The JSON body checked against `schema`; anything else is a malformed answer. */
export function parseJson<S extends z.ZodType>(info: ProviderInfo, response: HttpResponse, schema: S): z.infer<S> {
  let data: unknown;
  try {
    data = JSON.parse(response.text());
  } catch {
    throw malformed(info, `not JSON but ${response.contentType ?? 'an untyped body'}`);
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : 'the body';
    throw malformed(info, `${where}: ${issue?.message ?? 'unexpected shape'}`);
  }
  return parsed.data as z.infer<S>;
}

/** One result as a provider gives it, before normalization. */
export interface RawResult {
  title: string | null | undefined;
  url: string;
  snippet?: string | null;
  published?: string | null;
  extra?: Record<string, unknown>;
}

/**
 * Provider results as SearchResults: http(s) URLs only, each page once, the domain filters
 * enforced (a provider may ignore `site:`), ranks 1…n in the provider's order.
 */
export function toResults(
  provider: string,
  raw: RawResult[],
  filters: Pick<SearchRequest, 'includeDomains' | 'excludeDomains'>,
): SearchResult[] {
  const seen = new Set<string>();
  const results: SearchResult[] = [];
  for (const item of raw) {
    const url = item.url.trim();
    if (!/^https?:\/\//i.test(url) || !passesDomains(url, filters)) continue;
    const id = resultId(url);
    if (seen.has(id)) continue;
    seen.add(id);
    const published = normalizeDate(item.published);
    const extra = item.extra && Object.keys(item.extra).length ? item.extra : undefined;
    results.push({
      id,
      title: collapse(item.title ?? '') || url,
      url,
      snippet: collapse(item.snippet ?? ''),
      ...(published ? { published } : {}),
      provider,
      rank: results.length + 1,
      ...(extra ? { extra } : {}),
    });
  }
  return results;
}

export function passesDomains(url: string, filters: Pick<SearchRequest, 'includeDomains' | 'excludeDomains'>): boolean {
  if (filters.excludeDomains.some((domain) => inDomain(url, domain))) return false;
  return !filters.includeDomains.length || filters.includeDomains.some((domain) => inDomain(url, domain));
}

/** Domain filters as query operators, for providers with no domain parameter. */
export function withSiteFilters(query: string, includeDomains: string[], excludeDomains: string[]): string {
  const parts = [query.trim()];
  const include = includeDomains.map((domain) => `site:${bareDomain(domain)}`);
  if (include.length === 1) parts.push(include[0]!);
  else if (include.length > 1) parts.push(`(${include.join(' OR ')})`);
  for (const domain of excludeDomains) parts.push(`-site:${bareDomain(domain)}`);
  return parts.join(' ');
}

function bareDomain(domain: string): string {
  return domain.trim().toLowerCase().replace(/^\*?\./, '');
}

/** The start of a time range, counted back from `now`. */
export function sinceDate(range: TimeRange, now = new Date()): Date {
  const since = new Date(now.getTime());
  switch (range) {
    case 'hour':
      since.setUTCHours(since.getUTCHours() - 1);
      break;
    case 'day':
      since.setUTCDate(since.getUTCDate() - 1);
      break;
    case 'week':
      since.setUTCDate(since.getUTCDate() - 7);
      break;
    case 'month':
      since.setUTCMonth(since.getUTCMonth() - 1);
      break;
    case 'year':
      since.setUTCFullYear(since.getUTCFullYear() - 1);
      break;
  }
  return since;
}

/**
 * For providers without paging: how many results to ask for so that the requested page is
 * inside the answer (at most `max`), and where that page starts.
 */
export function pageWindow(request: Pick<SearchRequest, 'num' | 'page'>, max: number): { ask: number; skip: number } {
  return { ask: Math.min(request.page * request.num, max), skip: (request.page - 1) * request.num };
}

export function trimSlash(base: string): string {
  return base.replace(/\/+$/, '');
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * A provider's date as ISO 8601 where it can be read: a date-time in UTC, or a bare date when no
 * time (or midnight without a zone) is given. Other forms, such as "3 days ago", are kept as given.
 */
export function normalizeDate(raw: string | null | undefined): string | undefined {
  const text = raw?.trim();
  if (!text) return undefined;
  const iso = ISO.exec(text);
  if (iso) {
    const [, year, month, day, hour, minute, second, fraction, zone] = iso;
    const date = `${year}-${month}-${day}`;
    if (hour === undefined || (!zone && `${hour}${minute}${second ?? '00'}` === '000000' && !/[1-9]/.test(fraction ?? ''))) {
      return date;
    }
    const ms = fraction ? fraction.slice(0, 4).padEnd(4, '0') : '';
    const offset = zone ? zone.toUpperCase().replace(/^([+-]\d{2})(\d{2})$/, '$1:$2') : 'Z';
    const parsed = new Date(`${date}T${hour}:${minute}:${second ?? '00'}${ms}${offset}`);
    return Number.isNaN(parsed.getTime()) ? text : parsed.toISOString();
  }
  const named = /^(?:(\d{1,2})\s+([a-z]{3})[a-z]*\.?,?\s+(\d{4})|([a-z]{3})[a-z]*\.?\s+(\d{1,2}),?\s+(\d{4}))$/i.exec(text);
  if (named) {
    const day = named[1] ?? named[5]!;
    const month = MONTHS.indexOf((named[2] ?? named[4]!).toLowerCase());
    const year = named[3] ?? named[6]!;
    if (month >= 0) return `${year}-${String(month + 1).padStart(2, '0')}-${day.padStart(2, '0')}`;
  }
  // RFC 1123 / 2822 dates with an explicit zone, e.g. "Tue, 05 Mar 2024 10:00:00 GMT".
  const zoned = /(GMT|UTC|[+-]\d{4})$/.test(text) ? Date.parse(text) : NaN;
  return Number.isNaN(zoned) ? text : new Date(zoned).toISOString();
}

/** Text of an HTML fragment: tags dropped, entities decoded, whitespace collapsed. */
export function plainText(html: string): string {
  return collapse(decodeHtmlEntities(html.replace(/<[^>]*>/g, '')));
}

function collapse(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
