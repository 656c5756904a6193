import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/** Tests against paid remote services, run on demand (`npm run test:e2b`), never by `npm test`. */
export default defineConfig({ ...base, test: { ...base.test, include: ['servers/*/test/live/**/*.live.ts'], testTimeout: 120_000 } });
