import { baseConfigSchema } from '@fathom/core';
import { z } from 'zod';

export const configSchema = baseConfigSchema.extend({
  chromiumPath: z.string().optional().describe('Chromium to run (default: found automatically, e.g. /usr/bin/chromium)'),
  headless: z.boolean().default(true).describe('Run Chromium without a window'),
  maxContexts: z.number().int().min(1).default(16).describe('Most browser sessions (isolated contexts) alive at once'),
  contextTtlSeconds: z.number().int().min(10).default(900).describe('A session unused this long is closed'),
  navigationTimeoutSeconds: z.number().positive().default(30).describe('Time limit of one navigation'),
  actionTimeoutSeconds: z.number().positive().default(10).describe('Time limit of one click, type or wait'),
  blockResources: z.array(z.enum(['image', 'font', 'media', 'stylesheet'])).default([]).describe('Resource types not loaded, for speed (comma-separated)'),
  maxDownloadMb: z.number().int().min(1).default(100).describe('Largest download kept'),
  maxScreenshotBytes: z.number().int().min(10_000).default(2_000_000).describe('Largest screenshot returned'),
  enableEvaluate: z.boolean().default(false).describe('Offer browser_evaluate (runs JavaScript in the page)'),
  viewportWidth: z.number().int().min(320).default(1280),
  viewportHeight: z.number().int().min(240).default(800),
});

export type Config = z.infer<typeof configSchema>;
