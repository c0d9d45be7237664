#!/usr/bin/env bash
# services/aws.sh up | down | status | env — moto server, an S3 + SQS emulator independent of the in-process
# emulators (s3rver, fauxqs), so the S3/SQS adapters are proven against two implementations (run through
# scripts/services.sh).
#
# moto lives in its own virtualenv under /opt/zonerelay-test/moto (never the system's Python packages) and runs
# daemonized on 127.0.0.1:15000 only, with its pid and log under /var/lib/zonerelay-test/moto. State is in memory
# (throwaway test data); tests use unique bucket and queue names, so runs never see each other's objects.
#
# `up` creates the virtualenv and installs the pinned moto[server] with pip when missing, then starts the server
# and waits until it answers. It is idempotent and a fast no-op when the server already answers (every `npm test`
# calls it). Needs root for anything but that no-op.
# `status` exits 0 when running, 3 when stopped (LSB convention).
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

NAME=moto-zonerelay-test
MOTO_VERSION=5.2.5
VENV=/opt/zonerelay-test/moto
BASE=/var/lib/zonerelay-test/moto
PIDFILE=$BASE/moto.pid
LOG=$BASE/moto.log
ADDR=127.0.0.1
PORT=15000
# Its own lock: a daemon started under the shared services lock may inherit that descriptor and hold it forever.
LOCK=/tmp/zonerelay-test-moto.lock

die() {
  echo "services.sh: $*" >&2
  exit 1
}

answers() { # true when moto's dashboard answers HTTP 200 within 3 s (data.json serialises all state: slow, fragile)
  [ "$(curl -s -o /dev/null -m 3 -w '%{http_code}' "http://$ADDR:$PORT/moto-api/" 2>/dev/null)" = 200 ]
}

port_open() { (exec 3<>"/dev/tcp/$ADDR/$PORT") 2>/dev/null; }

instance_pid() { # PID of this instance, empty if it is not running
  local p
  p=$(cat "$PIDFILE" 2>/dev/null || true)
  if [ -n "$p" ] && [ -d "/proc/$p" ] && grep -q moto "/proc/$p/cmdline" 2>/dev/null; then echo "$p"; fi
}

installed() { "$VENV/bin/python" -c "import moto, flask; assert moto.__version__ == '$MOTO_VERSION'" 2>/dev/null; }

install_missing() {
  command -v curl >/dev/null || die "curl is missing (apt-get install curl)"
  installed && return 0
  # The distro's Python first (a stable path for the venv); any python3 on PATH otherwise.
  local py=/usr/bin/python3
  [ -x "$py" ] || py=$(command -v python3 || true)
  [ -n "$py" ] || die "python3 is missing; install python3 and python3-venv"
  if ! "$py" -c "import venv, ensurepip" 2>/dev/null; then
    command -v apt-get >/dev/null || die "$py has no venv/ensurepip and there is no apt-get to install python3-venv"
    echo "services.sh: installing python3-venv with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get install -y -qq python3-venv >/dev/null 2>&1 ||
      { timeout 300 apt-get update -qq >/dev/null 2>&1 && timeout 600 apt-get install -y -qq python3-venv >/dev/null; } ||
      die "apt-get install python3-venv failed; the tests that need moto cannot run"
  fi
  echo "services.sh: installing moto[server]==$MOTO_VERSION into $VENV" >&2
  [ -x "$VENV/bin/pip" ] || "$py" -m venv "$VENV" || die "$py -m venv $VENV failed"
  timeout 900 "$VENV/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" ||
    die "pip install moto[server]==$MOTO_VERSION failed; the tests that need moto cannot run"
  installed || die "moto $MOTO_VERSION was installed into $VENV but does not import"
}

report_up() {
  echo "$NAME up: http://$ADDR:$PORT (S3 + SQS; moto $MOTO_VERSION, pid $(instance_pid || true), log $LOG)"
}

cmd_up() {
  if answers; then
    report_up
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "must run as root to install and start moto ($NAME is not up); try: sudo bash $0 up"
  # two test runs starting at once must not both install and start the server
  exec 9>"$LOCK"
  flock -w 900 9 || die "timed out waiting for $LOCK"
  if answers; then
    report_up
    return 0
  fi
  install_missing
  if port_open && [ -z "$(instance_pid)" ]; then
    die "$ADDR:$PORT is in use by another process (not $NAME); free it and retry"
  fi
  mkdir -p "$BASE"
  if [ -z "$(instance_pid)" ]; then
    : >"$LOG"
    # setsid: the server outlives this shell and the test run that started it; fd 9 (the lock) is not inherited.
    setsid "$VENV/bin/moto_server" -H "$ADDR" -p "$PORT" </dev/null >>"$LOG" 2>&1 9>&- &
    echo $! >"$PIDFILE"
  fi
  for _ in $(seq 300); do
    if answers; then
      report_up
      return 0
    fi
    [ -n "$(instance_pid)" ] || break
    sleep 0.1
  done
  tail -5 "$LOG" >&2 || true
  die "$NAME did not answer on $ADDR:$PORT within 30 s (see $LOG)"
}

cmd_down() {
  local p
  p=$(instance_pid)
  if [ -z "$p" ]; then
    echo "$NAME already down"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "must run as root to stop $NAME"
  kill "$p"
  for _ in $(seq 100); do
    [ -z "$(instance_pid)" ] && {
      rm -f "$PIDFILE"
      echo "$NAME down"
      return 0
    }
    sleep 0.1
  done
  die "$NAME (pid $p) did not stop"
}

cmd_status() {
  if answers; then
    echo "$NAME running (pid $(instance_pid || true)) on http://$ADDR:$PORT, log $LOG"
  else
    echo "$NAME stopped"
    return 3
  fi
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
env) echo "MOTO_ENDPOINT=http://$ADDR:$PORT" ;;
*)
  echo "usage: $0 up | down | status | env" >&2
  exit 2
  ;;
esac
