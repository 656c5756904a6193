import { baseConfigSchema } from '@fathom/core';
import { z } from 'zod';

export const configSchema = baseConfigSchema.extend({
  maxFileBytes: z.number().int().positive().default(100 * 1024 * 1024).describe('Largest file or download read, and largest total a ZIP may expand to'),
  conversionTimeoutSeconds: z.number().positive().default(60).describe('Time limit for converting one document'),
  workers: z.number().int().min(1).max(32).default(2).describe('Worker threads that convert documents'),
  ocr: z.boolean().default(true).describe('Read text in images with tesseract.js (English data installed locally)'),
  transcribeUrl: z.string().url().optional().describe('OpenAI-compatible /audio/transcriptions endpoint for audio files'),
  transcribeModel: z.string().default('whisper-1').describe('Model name sent to the transcription endpoint'),
  transcribeApiKey: z.string().optional().describe('API key for the transcription endpoint'),
});

export type Config = z.infer<typeof configSchema>;

