#!/usr/bin/env bash
# services/schemathesis.sh up | down | status | env — schemathesis (PyPI), the property-based HTTP API fuzzer that
# test/fuzz/api-schemathesis.test.ts runs against the relay's /openapi.json. Not a server: `up` installs the pinned
# version into its own virtualenv under /opt/zonerelay-test/schemathesis (never the system's Python packages) when
# missing — idempotent, a fast no-op when present; `down` does nothing.
set -euo pipefail

VERSION=4.32.5
VENV=/opt/zonerelay-test/schemathesis
LOCK=/tmp/zonerelay-test-schemathesis.lock

die() {
  echo "services.sh: $*" >&2
  exit 1
}

installed() { [ "$("$VENV/bin/st" --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -1)" = "$VERSION" ]; }

cmd_up() {
  installed && return 0
  [ "$(id -u)" -eq 0 ] || die "must run as root to install schemathesis into $VENV; try: sudo bash $0 up"
  exec 9>"$LOCK"
  flock -w 900 9 || die "timed out waiting for $LOCK"
  installed && return 0
  local py=/usr/bin/python3
  [ -x "$py" ] || py=$(command -v python3 || true)
  [ -n "$py" ] || die "python3 is missing; install python3 and python3-venv"
  if ! "$py" -c "import venv, ensurepip" 2>/dev/null; then
    command -v apt-get >/dev/null || die "$py has no venv/ensurepip and there is no apt-get to install python3-venv"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get install -y -qq python3-venv >/dev/null 2>&1 ||
      { timeout 300 apt-get update -qq >/dev/null 2>&1 && timeout 600 apt-get install -y -qq python3-venv >/dev/null; } ||
      die "apt-get install python3-venv failed; the API fuzz test cannot run"
  fi
  echo "services.sh: installing schemathesis==$VERSION into $VENV" >&2
  [ -x "$VENV/bin/pip" ] || "$py" -m venv "$VENV" || die "$py -m venv $VENV failed"
  timeout 900 "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$VERSION" ||
    die "pip install schemathesis==$VERSION failed; the API fuzz test cannot run"
  installed || die "schemathesis $VERSION was installed into $VENV but does not run"
}

case "${1:-}" in
up) cmd_up ;;
down) ;;
status)
  if installed; then echo "schemathesis $VERSION: installed ($VENV/bin/st)"; else
    echo "schemathesis: missing"
    exit 3
  fi
  ;;
env) echo "SCHEMATHESIS=$VENV/bin/st" ;;
*)
  echo "usage: $0 up | down | status | env" >&2
  exit 2
  ;;
esac
