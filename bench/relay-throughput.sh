#!/usr/bin/env bash
# bench/relay-throughput.sh — ZoneRelay (embedded mode, durable) side by side with Postfix on this machine, in the
# same run, through the same counting sink, driven by the same smtp-source. Prints ONE line:
#   relay-throughput n=… kb=… rcpts=… par=… zonerelay_intake=… postfix_intake=… intake_ratio=… zonerelay_e2e=…
#   postfix_e2e=… e2e_ratio=… zonerelay_cpu_s=… postfix_cpu_s=… zonerelay_peak_rss_mb=…
# (rates in messages/s; ratio = ZoneRelay / Postfix). Raw lines of each run go to $BENCH_STATE/relay-throughput.log.
#
# Uses the Postfix helpers handed to us (BENCH_HELPERS, default ../shared/bench): sink.sh (smtp-sink on
# 127.0.0.2:2626), postfix-setup.sh (a separate Postfix instance on 127.0.0.1:2526 relaying to the sink) and
# relay-throughput.sh (smtp-source driver). ZoneRelay listens on 127.0.0.1:2527 with a smarthost at the sink.
#
# Environment (defaults): N=5000 KB=4 RCPTS=1 PAR=20 REPS=1 DKIM=1 (sign every message with a 2048-bit RSA key)
# Bounded: fixed message counts; each run under the driver's own timeouts; everything started here is stopped.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
repo=$(cd "$(dirname "$0")/.." && pwd)
helpers=${BENCH_HELPERS:-$repo/../shared/bench}
[ -x "$helpers/relay-throughput.sh" ] || { echo "no Postfix bench helpers in $helpers (set BENCH_HELPERS)" >&2; exit 2; }
STATE=${BENCH_STATE:-/tmp/relay-bench}; export BENCH_STATE=$STATE
N=${N:-5000} KB=${KB:-4} RCPTS=${RCPTS:-1} PAR=${PAR:-20} REPS=${REPS:-1} DKIM=${DKIM:-1}
SINK_ADDR=127.0.0.2 SINK_PORT=2626 PORT=2527
work=$STATE/zonerelay
mkdir -p "$STATE"
rm -rf "$work" && mkdir -p "$work"

relay_pid=
cleanup() {
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null && wait "$relay_pid" 2>/dev/null || true
  "$helpers/postfix-setup.sh" down >/dev/null 2>&1 || true
  "$helpers/sink.sh" stop "$SINK_ADDR" "$SINK_PORT" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$helpers/sink.sh" start "$SINK_ADDR" "$SINK_PORT" >/dev/null
"$helpers/postfix-setup.sh" up "127.0.0.1:2526" "$SINK_ADDR:$SINK_PORT" >/dev/null

dkim=""
if [ "$DKIM" = 1 ]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/dkim.pem" 2>/dev/null
  dkim="dkim: { keys: [{ domain: sender.test, selector: bench, privateKeyFile: $work/dkim.pem }] }"
fi
cat >"$work/zonerelay.yaml" <<EOF
hostname: bench.zonerelay.test
log: { level: warn }
smtpInterfaces: { feeder: { host: 127.0.0.1, port: $PORT, maxClients: 1000 } }
api: { host: 127.0.0.1, port: 12089 }
queue: { spoolDir: $work/spool, dbPath: $work/queue.sqlite }
zones: { default: { host: $SINK_ADDR, port: $SINK_PORT, connections: 50 } }
domainConfig: { default: { maxConnections: 50 } }
$dkim
EOF
node "$repo/scripts/zonerelay.mjs" check-config --config "$work/zonerelay.yaml" >/dev/null 2>&1 ||
  { node "$repo/scripts/zonerelay.mjs" check-config --config "$work/zonerelay.yaml"; exit 1; }
node "$repo/scripts/zonerelay.mjs" start --config "$work/zonerelay.yaml" >"$work/relay.log" 2>&1 &
relay_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done

field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
run() { # $1 port -> one relay-throughput.sh line
  EXPECT=$((N * RCPTS)) "$helpers/relay-throughput.sh" 127.0.0.1 "$1" "$N" "$KB" "$PAR" "$RCPTS"
}

# One unrecorded warm-up each, then REPS interleaved runs; the last pair is reported (all are logged).
N_SAVE=$N; N=$((N / 10 + 1)); run "$PORT" >/dev/null; run 2526 >/dev/null; N=$N_SAVE
for rep in $(seq "$REPS"); do
  ours=$(run "$PORT"); echo "zonerelay rep=$rep $ours" >>"$STATE/relay-throughput.log"
  theirs=$(run 2526); echo "postfix rep=$rep $theirs" >>"$STATE/relay-throughput.log"
done
rss=$(awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$relay_pid/status")
oi=$(field intake_rate "$ours") pi=$(field intake_rate "$theirs")
oe=$(field e2e_rate "$ours") pe=$(field e2e_rate "$theirs")
oc=$(field rest_cpu_s "$ours") pc=$(field rest_cpu_s "$theirs")
awk -v n="$N" -v kb="$KB" -v r="$RCPTS" -v p="$PAR" -v oi="$oi" -v pi="$pi" -v oe="$oe" -v pe="$pe" \
  -v oc="$oc" -v pc="$pc" -v rss="$rss" -v dkim="$DKIM" 'BEGIN{
  printf "relay-throughput n=%d kb=%d rcpts=%d par=%d dkim=%d zonerelay_intake=%s postfix_intake=%s intake_ratio=%.2f zonerelay_e2e=%s postfix_e2e=%s e2e_ratio=%.2f zonerelay_cpu_s=%s postfix_cpu_s=%s zonerelay_peak_rss_mb=%s\n",
    n, kb, r, p, dkim, oi, pi, (pi > 0 ? oi / pi : 0), oe, pe, (pe > 0 ? oe / pe : 0), oc, pc, rss }'
