import path from 'node:path';
import type { NextConfig } from 'next';

// The pnpm monorepo root holds the lockfile; pointing both roots at it silences the
// "multiple lockfiles" warning and lets Turbopack follow workspace symlinks.
const monorepoRoot = path.resolve(import.meta.dirname, '../..');

const nextConfig: NextConfig = {
  turbopack: { root: monorepoRoot },
  outputFileTracingRoot: monorepoRoot,
  poweredByHeader: false,
  reactStrictMode: true,
};

export default nextConfig;
