#!/usr/bin/env bash
# `npm run check:infra`: verifies the AWS stack offline. `sst install` unpacks SST's platform into .sst/platform and
# installs the Pulumi SDKs from npm (no AWS account, no network beyond the registry); then tsc checks sst.config.ts
# and infra/ against them, and the program runs once against Pulumi's mocks (infra/synth-check.ts). Idempotent: the install is skipped while .sst/platform matches the sst package and
# sst.config.ts (its provider versions) has not changed since.
set -euo pipefail
cd "$(dirname "$0")/.."

want="$(node -p 'JSON.parse(require("fs").readFileSync("node_modules/sst/package.json", "utf8")).version')"
have="$(cat .sst/platform/version 2>/dev/null || true)"
if [ "$have" != "$want" ] || [ ! -d .sst/platform/node_modules/@pulumi/aws ] || [ sst.config.ts -nt .sst/provider-lock.json ]; then
  SST_TELEMETRY_DISABLED=1 SST_SKIP_DEPENDENCY_CHECK=true SST_STAGE=ci SST_NO_BUN=1 npx sst install
  touch .sst/provider-lock.json
fi
npx tsc --noEmit -p tsconfig.infra.json
echo "check:infra: sst.config.ts and infra/ type-check against SST $want"
node --import tsx infra/synth-check.ts 2> >(grep -v -e NodeVersionSupportWarning -e "^$" >&2)
