#!/usr/bin/env bash
# services/dkimpy.sh up | down | status | env — dkimpy (Debian python3-dkim, with dnspython and PyNaCl for
# Ed25519), the independent DKIM verifier the DKIM tests check our signatures with. Not a server: `up` installs it
# when missing (idempotent, a no-op when present), `down` does nothing.
set -euo pipefail
PY=/usr/bin/python3
have() { "$PY" -c 'import dkim, dns.resolver, nacl' 2>/dev/null; }
case "${1:-}" in
up)
  if ! have; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq python3-dkim python3-dnspython python3-nacl >/dev/null
  fi
  have || {
    echo "services.sh: dkimpy did not install" >&2
    exit 1
  }
  ;;
down) ;;
status)
  if have; then echo "dkimpy: installed"; else
    echo "dkimpy: missing"
    exit 3
  fi
  ;;
env) echo "DKIMPY_PYTHON=$PY" ;;
*)
  echo "usage: $0 up | down | status | env" >&2
  exit 2
  ;;
esac
