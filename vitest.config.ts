import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@fathom\/core$/, replacement: src('./core/src/index.ts') },
      { find: /^@fathom\/core\/testing$/, replacement: src('./core/src/testing.ts') },
      { find: /^@fathom\/core\/cli$/, replacement: src('./core/src/cli/main.ts') },
    ],
  },
  test: {
    include: [
      'core/test/**/*.test.ts',
      'servers/*/test/**/*.test.ts',
      'agent-client/test/**/*.test.ts',
      'tests/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
