import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: {
      // Next resolves this marker itself; under Vitest the server modules are plain Node modules.
      'server-only': fileURLToPath(new URL('./node_modules/next/dist/compiled/server-only/empty.js', import.meta.url)),
      '@/': fileURLToPath(new URL('./', import.meta.url)),
    },
  },
  test: {
    include: ['**/*.spec.ts'],
    exclude: ['node_modules/**', '.next/**'],
    environment: 'node',
  },
});
