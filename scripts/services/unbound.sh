#!/usr/bin/env bash
# services/unbound.sh up | down | status | env — Debian's unbound (a DNSSEC-validating resolver) and ldnsutils
# (ldns-keygen, ldns-signzone), with which the DANE tests sign a test zone and validate it against a local trust
# anchor (test/support/unbound.ts starts one unbound per test on a free loopback port). Not a shared server: `up`
# installs the packages when missing (idempotent, a no-op when present) and makes sure the distro's own unbound
# service is not left running on port 53; `down` does nothing.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
have() { command -v unbound >/dev/null && command -v ldns-signzone >/dev/null && command -v ldns-keygen >/dev/null; }
case "${1:-}" in
up)
  if ! have; then
    export DEBIAN_FRONTEND=noninteractive
    # policy-rc.d 101: packages may not start their daemons; the tests start their own unbound.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d.zonerelay
    chmod +x /usr/sbin/policy-rc.d.zonerelay
    [ -e /usr/sbin/policy-rc.d ] || ln -s /usr/sbin/policy-rc.d.zonerelay /usr/sbin/policy-rc.d
    if ! timeout 600 apt-get install -y -qq unbound ldnsutils >/dev/null 2>&1; then
      timeout 300 apt-get update -qq >/dev/null 2>&1 || true
      timeout 600 apt-get install -y -qq unbound ldnsutils >/dev/null || {
        echo "services.sh: apt-get install unbound ldnsutils failed; the DANE tests cannot run" >&2
        exit 1
      }
    fi
    [ "$(readlink /usr/sbin/policy-rc.d 2>/dev/null)" = /usr/sbin/policy-rc.d.zonerelay ] && rm -f /usr/sbin/policy-rc.d
    rm -f /usr/sbin/policy-rc.d.zonerelay
  fi
  have || {
    echo "services.sh: unbound or ldnsutils did not install" >&2
    exit 1
  }
  echo "unbound: $(unbound -V 2>/dev/null | head -1) with ldns-signzone (per-test resolvers)"
  ;;
down) ;;
status)
  if have; then echo "unbound: installed"; else
    echo "unbound: missing"
    exit 3
  fi
  ;;
env) echo "UNBOUND=$(command -v unbound || echo /usr/sbin/unbound)" ;;
*)
  echo "usage: $0 up | down | status | env" >&2
  exit 2
  ;;
esac
