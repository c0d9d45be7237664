#!/usr/bin/env bash
# services.sh up | down | status | env — the real servers the integration tests talk to, on loopback and non-default
# ports. Each lives in scripts/services/<name>.sh with the same four commands; this runs them all in order.
#   up      install what is missing and start (idempotent, cheap when already running)
#   down    stop
#   status  one line each; exits non-zero when any is not running
#   env     prints KEY=value lines the tests read (endpoints, URLs), for `set -a; . <(scripts/services.sh env)`
set -euo pipefail
cd "$(dirname "$0")/services"
cmd=${1:-}
case "$cmd" in
up | down | status | env) ;;
*)
  echo "usage: $0 up | down | status | env" >&2
  exit 2
  ;;
esac
rc=0
for service in *.sh; do
  bash "$service" "$cmd" || rc=$?
  # `up` stops at the first failure: tests must fail loudly, not run against half a world.
  if [ "$rc" -ne 0 ] && [ "$cmd" = up ]; then
    echo "services: ${service%.sh} failed to start" >&2
    exit "$rc"
  fi
done
exit "$rc"
