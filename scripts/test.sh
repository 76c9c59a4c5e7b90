#!/usr/bin/env bash
# One command: install what is missing, then run every test (unit, integration against the real
# Postgres/Redis/MQTT on loopback, end-to-end with real processes and headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-browser.sh
bash scripts/setup.sh --no-build
pnpm test
