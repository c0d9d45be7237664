#!/usr/bin/env bash
# The one test command (`npm test`): installs what is missing, starts the real services the tests talk to,
# then type-checks, lints and runs every test. Idempotent: safe to run again on the same machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# Dependencies: a fresh clone has no node_modules; a changed lockfile needs a reinstall.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# Real peers on loopback (Postfix as a second MX, ...); installs them with apt when missing.
bash scripts/services.sh up

npx tsc --noEmit -p .
# The AWS stack (sst.config.ts, infra/) against SST's platform and the Pulumi SDKs, offline (~30 s when fresh).
bash scripts/check-infra.sh
npx biome check .
npx vitest run "$@"
