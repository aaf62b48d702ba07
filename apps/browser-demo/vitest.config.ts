import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['development'] },
  ssr: { resolve: { conditions: ['development'] } },
  test: { include: ['test/**/*.test.ts'], testTimeout: 180_000, hookTimeout: 120_000 },
});
