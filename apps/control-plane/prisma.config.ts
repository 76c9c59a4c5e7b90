import { PrismaPg } from '@prisma/adapter-pg';
import { defineConfig } from 'prisma/config';

// Prisma's native schema engine cannot be downloaded on our machines: the CLI runs its
// WASM engine over the pg driver adapter instead (see ARCHITECTURE.md, toolchain facts).
export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: '../../prisma/schema.prisma',
  migrations: { path: '../../prisma/migrations' },
  adapter: async () =>
    Promise.resolve(new PrismaPg({ connectionString: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/edge_fleet' })),
});
