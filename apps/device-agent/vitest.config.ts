import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.spec.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // The inference worker runs compiled JS (Node 20 cannot run a .ts worker), so build once first.
    globalSetup: ['./src/test-support/global-setup.ts'],
  },
});
