import { baseConfigSchema } from '@fathom/core';
import { z } from 'zod';

export const configSchema = baseConfigSchema.extend({
  chromiumPath: z.string().optional().describe('Chromium to run (default: found automatically, e.g. /usr/bin/chromium)'),
  headless: z.boolean().default(true).describe('Run Chromium without a window'),
  browserSandbox: z
    .boolean()
    .default(true)
    .describe("Run Chromium inside its own sandbox (needs user namespaces); turn off only where they are not permitted, since a page exploit then runs with the browser's rights"),
  browserUid: z
    .number()
    .int()
    .min(1)
    .max(4_294_967_294)
    .default(1_999_000_000)
    .describe('When the server runs as root, Chromium runs as this unprivileged uid and gid (no account needed)'),
  maxContexts: z.number().int().min(1).default(16).describe('Most browser sessions (isolated contexts) alive at once'),
  contextTtlSeconds: z.number().int().min(10).default(900).describe('A session unused this long is closed'),
  navigationTimeoutSeconds: z.number().positive().default(30).describe('Time limit of one navigation'),
  actionTimeoutSeconds: z.number().positive().default(10).describe('Time limit of one click, type, wait or read of the page'),
  blockResources: z
    .array(z.enum(['image', 'font', 'media', 'stylesheet']))
    .default([])
    .describe('Resource types not loaded in pages and their same-site frames, for speed (comma-separated)'),
  maxDownloadMb: z.number().int().min(1).default(100).describe('Largest download kept'),
  maxDownloads: z.number().int().min(0).default(20).describe('Most downloads one session may start; pages cannot start more'),
  maxDownloadTotalMb: z.number().int().min(1).default(250).describe('Most megabytes of downloads one session keeps'),
  maxScreenshotBytes: z.number().int().min(10_000).default(2_000_000).describe('Largest screenshot returned'),
  enableEvaluate: z.boolean().default(false).describe('Offer browser_evaluate (runs JavaScript in the page)'),
  cdpEndpoint: z
    .string()
    .regex(/^(wss?|https?):\/\/[^\s]+$/i, 'a ws://, wss://, http:// or https:// URL')
    .optional()
    .describe("Drive the Chromium at this DevTools endpoint (ws://HOST:PORT/devtools/browser/..., or http://HOST:PORT, read through /json/version) instead of launching one"),
  cdpHeader: z
    .array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+:.*$/, 'Name: value'))
    .default([])
    .describe("HTTP headers sent to --cdp-endpoint, e.g. 'Authorization: Bearer TOKEN' (repeatable; comma-separated in FATHOM_CDP_HEADER or FATHOM_CDP_HEADERS)"),
  cdpProxyHost: z
    .string()
    .min(1)
    .default('127.0.0.1')
    .describe("With --cdp-endpoint: the interface the guard proxy the remote browser's pages go through listens on"),
  cdpProxyPort: z.number().int().min(0).max(65535).default(0).describe('With --cdp-endpoint: the guard proxy\'s port (0 picks a free one)'),
  cdpProxyAddress: z
    .string()
    .min(1)
    .optional()
    .describe('With --cdp-endpoint: the host name or IP the remote browser reaches the guard proxy at (default: --cdp-proxy-host)'),
  viewportWidth: z.number().int().min(320).default(1280),
  viewportHeight: z.number().int().min(240).default(800),
});

export type Config = z.infer<typeof configSchema>;

/** Environment names besides FATHOM_<KEY>. */
export const envAliases: Readonly<Record<string, readonly string[]>> = { cdpHeader: ['FATHOM_CDP_HEADERS'] };
