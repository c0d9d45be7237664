#!/usr/bin/env bash
# services/chromium.sh up | down | status | env — Debian's headless Chromium for the admin UI's browser tests
# (driven by playwright-core with executablePath; never a browser downloaded by Playwright). Run through
# scripts/services.sh.
#
# `up` installs Debian's `chromium` package with apt when /usr/bin/chromium is missing; idempotent and a fast no-op
# when it is there. Nothing runs in the background: each test launches its own browser, so `down` does nothing.
# `status` exits 0 when the binary is installed and answers --version, 3 otherwise (LSB convention).
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

CHROMIUM=/usr/bin/chromium
# Our own lock (a daemon started by another service may hold theirs for ever); apt itself waits for dpkg's lock.
LOCK=/tmp/zonerelay-test-chromium.lock
APT_WAIT=(-o DPkg::Lock::Timeout=600)

die() {
  echo "services.sh: $*" >&2
  exit 1
}

installed() { [ -x "$CHROMIUM" ] && timeout 30 "$CHROMIUM" --version >/dev/null 2>&1; }

report_up() { echo "chromium ready: $("$CHROMIUM" --version 2>/dev/null) at $CHROMIUM"; }

cmd_up() {
  if installed; then
    report_up
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "must run as root to install chromium; try: sudo bash $0 up"
  command -v apt-get >/dev/null || die "chromium is missing and there is no apt-get to install it"
  exec 9>"$LOCK"
  flock -w 900 9 || die "timed out waiting for $LOCK"
  if installed; then
    report_up
    return 0
  fi
  echo "services.sh: installing chromium with apt" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! timeout 900 apt-get "${APT_WAIT[@]}" install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1; then
    timeout 300 apt-get "${APT_WAIT[@]}" update -qq >/dev/null 2>&1 || die "apt-get update failed; cannot install chromium"
    timeout 900 apt-get "${APT_WAIT[@]}" install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null ||
      die "apt-get install chromium failed; the browser tests cannot run"
  fi
  installed || die "chromium was installed but $CHROMIUM does not run"
  report_up
}

cmd_status() {
  if installed; then
    report_up
  else
    echo "chromium missing ($CHROMIUM)"
    return 3
  fi
}

case "${1:-}" in
up) cmd_up ;;
down) echo "chromium: nothing to stop (each test launches its own browser)" ;;
status) cmd_status ;;
env) echo "CHROMIUM=$CHROMIUM" ;;
*)
  echo "usage: $0 up | down | status | env" >&2
  exit 2
  ;;
esac
