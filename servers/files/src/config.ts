import { baseConfigSchema } from '@fathom/core';
import { z } from 'zod';

export const configSchema = baseConfigSchema.extend({
  roots: z
    .array(z.string())
    .default(() => [process.cwd()])
    .describe('Folders the server may read (comma-separated; default: the working directory)'),
});

export type Config = z.infer<typeof configSchema>;
