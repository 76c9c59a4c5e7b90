import { defineConfig } from 'vitest/config';
// Integration specs load real onnxruntime sessions; a generous timeout keeps slow CI machines green.
export default defineConfig({ test: { include: ['src/**/*.spec.ts'], testTimeout: 120_000 } });
