#!/usr/bin/env bash
# One command: install, build, then start the control plane (with Postgres, Redis and the MQTT
# broker it needs), the dashboard and the demo fleet.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node scripts/start.mjs
