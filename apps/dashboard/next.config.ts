import path from 'node:path';
import type { NextConfig } from 'next';

// The pnpm monorepo root holds the lockfile; pointing both roots at it silences the
// "multiple lockfiles" warning and lets Turbopack follow workspace symlinks.
const monorepoRoot = path.resolve(import.meta.dirname, '../..');

/**
 * Every page: only this origin's scripts, styles and calls (Next's inline bootstrap scripts and
 * styled attributes need 'unsafe-inline'; `next dev`'s refresh also needs eval), never framed, no
 * type sniffing, no Referer (the sign-in link carries a token).
 */
const CSP = [
  "default-src 'self'",
  `script-src 'self' 'unsafe-inline'${process.env.NODE_ENV === 'production' ? '' : " 'unsafe-eval'"}`,
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = [
  { key: 'Content-Security-Policy', value: CSP },
  { key: 'X-Frame-Options', value: 'DENY' },
  { key: 'X-Content-Type-Options', value: 'nosniff' },
  { key: 'Referrer-Policy', value: 'no-referrer' },
];

const nextConfig: NextConfig = {
  turbopack: { root: monorepoRoot },
  outputFileTracingRoot: monorepoRoot,
  poweredByHeader: false,
  reactStrictMode: true,
  headers: () => Promise.resolve([{ source: '/:path*', headers: SECURITY_HEADERS }]),
};

export default nextConfig;
