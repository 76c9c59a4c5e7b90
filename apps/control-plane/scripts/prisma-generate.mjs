#!/usr/bin/env node
// Generates the Prisma client (prisma-client generator, engineType "client": queries go through
// the pg driver adapter, no native query engine). Prisma 6.19's CLI still tries to download the
// native query-engine library during `generate` unless PRISMA_QUERY_ENGINE_LIBRARY names an
// existing file; that library is never loaded with engineType "client", so any existing file
// will do. See ARCHITECTURE.md (toolchain facts): the binary host is unreachable here.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const app = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const r = spawnSync(path.join(app, 'node_modules/.bin/prisma'), ['generate'], {
  cwd: app,
  stdio: 'inherit',
  env: {
    ...process.env,
    PRISMA_QUERY_ENGINE_LIBRARY: process.env.PRISMA_QUERY_ENGINE_LIBRARY ?? fileURLToPath(import.meta.url),
    DATABASE_URL: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/edge_fleet',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1',
  },
});
process.exit(r.status ?? 1);
