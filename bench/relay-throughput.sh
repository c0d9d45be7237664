#!/usr/bin/env bash
# bench/relay-throughput.sh — ZoneRelay (embedded mode, durable) side by side with Postfix on this machine, in the
# same run, through the same counting sink, driven by the same smtp-source. Prints ONE line per size × recipients:
#   relay-throughput n=… kb=… rcpts=… par=… dkim=… zonerelay_intake=… postfix_intake=… intake_ratio=…
#   zonerelay_e2e=… postfix_e2e=… e2e_ratio=… zonerelay_cpu_ms_per_msg=… postfix_cpu_ms_per_msg=…
#   zonerelay_peak_rss_mb=…
# (rates in messages/s, the median of REPS interleaved runs; ratio = ZoneRelay / Postfix; CPU = the relay's own
# processes — ZoneRelay's node process, Postfix's master and all its children — per message, so other load on the
# machine does not count.) Raw lines of each run go to $BENCH_STATE/relay-throughput.log.
#
# Uses the Postfix helpers handed to us (BENCH_HELPERS, default ../shared/bench): sink.sh (smtp-sink on
# 127.0.0.2:2626), postfix-setup.sh (a separate Postfix instance on 127.0.0.1:2526 relaying to the sink) and
# relay-throughput.sh (smtp-source driver). ZoneRelay listens on 127.0.0.1:2527 with a smarthost at the sink.
# Both relays offer STARTTLS to the sink opportunistically; smtp-sink has no TLS, so both send in plain text.
# The recipients of a message share one domain, and both relays send them in one transaction (a RCPT each), so
# the sink counts one message per message sent whatever RCPTS is.
#
# Environment (defaults): N=5000 KB=4 RCPTS=1 PAR=20 REPS=3 DKIM=1 (sign every message with a 2048-bit RSA key)
#   KB and RCPTS may be lists: KB="4 100" RCPTS="1 10" runs the four combinations, one line each.
# Bounded: fixed message counts; each run under the driver's own timeouts; everything started here is stopped.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
repo=$(cd "$(dirname "$0")/.." && pwd)
helpers=${BENCH_HELPERS:-$repo/../shared/bench}
[ -x "$helpers/relay-throughput.sh" ] || { echo "no Postfix bench helpers in $helpers (set BENCH_HELPERS)" >&2; exit 2; }
STATE=${BENCH_STATE:-/tmp/relay-bench}; export BENCH_STATE=$STATE
N=${N:-5000} KB=${KB:-4} RCPTS=${RCPTS:-1} PAR=${PAR:-20} REPS=${REPS:-3} DKIM=${DKIM:-1}
SINK_ADDR=127.0.0.2 SINK_PORT=2626 PORT=2527
work=$STATE/zonerelay
mkdir -p "$STATE"
rm -rf "$work" && mkdir -p "$work"
# The last run's spool was just deleted. On ext4 without a journal (this machine's root), every new file's inode
# search skips inodes deleted in the last 5 s, or 305 s while their inode table block is dirty: thousands of them
# cost ZoneRelay ~15% of its CPU. Written back (sync) and 6 s later they no longer count.
sync && sleep 6

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
cat >"$work/zonerelay.yaml" <<YAML
hostname: bench.zonerelay.test
log: { level: warn }
smtpInterfaces: { feeder: { host: 127.0.0.1, port: $PORT, maxClients: 1000 } }
api: { host: 127.0.0.1, port: 12089 }
queue: { spoolDir: $work/spool, dbPath: $work/queue.sqlite }
zones: { default: { host: $SINK_ADDR, port: $SINK_PORT, connections: 50 } }
domainConfig: { default: { maxConnections: 50 } }
$dkim
YAML
node "$repo/scripts/zonerelay.mjs" check-config --config "$work/zonerelay.yaml" >/dev/null 2>&1 ||
  { node "$repo/scripts/zonerelay.mjs" check-config --config "$work/zonerelay.yaml"; exit 1; }
node "$repo/scripts/zonerelay.mjs" start --config "$work/zonerelay.yaml" >"$work/relay.log" 2>&1 &
relay_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
postfix_pid=$(sed -n '1s/[^0-9]//gp' /var/spool/postfix-relaybench/pid/master.pid)

field() { sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
# CPU ticks of a process tree: each live process's own time plus what its exited children left in cutime/cstime.
tree_cpu() {
  local pids
  pids=$(ps -e -o pid=,ppid= | awk -v root="$1" '{ parent[$1] = $2 } END {
    for (p in parent) { q = p; while (q != "" && q != 0 && q != root) q = parent[q]; if (q == root) print p } }')
  # shellcheck disable=SC2086
  for p in $pids; do cat "/proc/$p/stat" 2>/dev/null; done | awk '{ sub(/^.*\) /, ""); t += $12 + $13 + $14 + $15 } END { print t + 0 }'
}
run() { # $1 port $2 pid of the relay's process tree -> one line: the driver's fields plus cpu_ticks=
  local c0 c1 line
  c0=$(tree_cpu "$2")
  line=$(EXPECT=$n "$helpers/relay-throughput.sh" 127.0.0.1 "$1" "$n" "$kb" "$PAR" "$rcpts")
  c1=$(tree_cpu "$2")
  echo "$line cpu_ticks=$((c1 - c0))"
}
hz=$(getconf CLK_TCK)

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# One unrecorded warm-up each, then per size × recipients REPS interleaved runs; medians are reported (all runs
# are logged).
n=$((N / 10 + 1)) kb=${KB%% *} rcpts=${RCPTS%% *}
run "$PORT" "$relay_pid" >/dev/null; run 2526 "$postfix_pid" >/dev/null
n=$N
for kb in $KB; do
  for rcpts in $RCPTS; do
    oi="" pi="" oe="" pe="" oc="" pc=""
    for rep in $(seq "$REPS"); do
      ours=$(run "$PORT" "$relay_pid"); echo "zonerelay rep=$rep $ours" >>"$STATE/relay-throughput.log"
      theirs=$(run 2526 "$postfix_pid"); echo "postfix rep=$rep $theirs" >>"$STATE/relay-throughput.log"
      oi+=" $(field intake_rate "$ours")" pi+=" $(field intake_rate "$theirs")"
      oe+=" $(field e2e_rate "$ours")" pe+=" $(field e2e_rate "$theirs")"
      oc+=" $(field cpu_ticks "$ours")" pc+=" $(field cpu_ticks "$theirs")"
    done
    rss=$(awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$relay_pid/status")
    oi=$(median <<<"$oi") pi=$(median <<<"$pi") oe=$(median <<<"$oe") pe=$(median <<<"$pe")
    oc=$(median <<<"$oc") pc=$(median <<<"$pc")
    awk -v n="$N" -v kb="$kb" -v r="$rcpts" -v p="$PAR" -v oi="$oi" -v pi="$pi" -v oe="$oe" -v pe="$pe" \
      -v oc="$oc" -v pc="$pc" -v hz="$hz" -v rss="$rss" -v dkim="$DKIM" 'BEGIN{
      printf "relay-throughput n=%d kb=%d rcpts=%d par=%d dkim=%d zonerelay_intake=%s postfix_intake=%s intake_ratio=%.2f zonerelay_e2e=%s postfix_e2e=%s e2e_ratio=%.2f zonerelay_cpu_ms_per_msg=%.2f postfix_cpu_ms_per_msg=%.2f zonerelay_peak_rss_mb=%s\n",
        n, kb, r, p, dkim, oi, pi, (pi > 0 ? oi / pi : 0), oe, pe, (pe > 0 ? oe / pe : 0),
        oc * 1000 / hz / n, pc * 1000 / hz / n, rss }'
  done
done
