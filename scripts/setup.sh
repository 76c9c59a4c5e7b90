#!/usr/bin/env bash
# Installs what the project needs on a fresh machine of our kind (Debian, Node 20, npm, root):
# pnpm, the workspace's packages, the generated Prisma client, and a build of every package.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=12.4.2
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm -v)" != "$PNPM_VERSION" ]; then
  echo "installing pnpm $PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi
export NEXT_TELEMETRY_DISABLED=1
pnpm install --frozen-lockfile
# `pnpm test` builds by itself; scripts/test.sh passes --no-build to avoid building twice
if [ "${1:-}" != "--no-build" ]; then pnpm run build; fi
