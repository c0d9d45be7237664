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
# Options beyond the default comparison (each adds its settings and results as extra fields to the line):
#   SINK=smtp-sink|smart   smart = bench/sink.ts on 127.0.0.2:2636 (counters on :2637): STARTTLS, refusals, counts
#                          per recipient, so it also settles multi-domain and refused mail (docs/performance.md)
#   TLS=0|1|verify         STARTTLS to the sink (self-signed certificate); implies SINK=smart. 1 = unverified, as
#                          a smarthost is usually set up: Postfix smtp_tls_security_level=encrypt, ZoneRelay its
#                          default opportunistic STARTTLS, and the run fails unless every sink session was TLS.
#                          verify = the certificate checked: Postfix level secure, ZoneRelay zone requireTLS, both
#                          trusting the sink's certificate (smtp_tls_CAfile, tls.caFile)
#   REJECT_4XX=0 REJECT_5XX=0 REJECT_AT=rcpt|data   shares the smart sink refuses (451 4.7.1 / 550 5.1.1 at RCPT,
#                          451 4.7.1 / 554 5.7.1 at DATA); both relays then retry after ~1 s; implies SINK=smart
#   DRIVER=smtp-source|load   load = bench/load.ts: adds p50/p99 accept latency (final dot -> reply) per relay;
#                          with it DOMAINS=1 (recipients over d1..dN.bench.test; N > 1 needs SINK=smart) and
#                          PER_CONN=1 (messages per connection)
#   MODE=embedded|mongo|sqs   ZoneRelay's backends: fs + SQLite (default), MongoDB queue + GridFS + Redis
#                          coordinator (FerretDB, scripts/services/{mongo,redis}.sh), or S3 + SQS (moto,
#                          scripts/services/aws.sh); services not running are started and stopped again; adds the
#                          backend services' CPU per message (zonerelay_backend_cpu_ms_per_msg)
# Zero loss: every run waits until the sink has settled every recipient the relay accepted — accepted once, or
# refused with a 5xx (the relay then bounces it; DSNs are counted apart) — and fails (exit 1) otherwise.
# Bounded: fixed message counts; each run under the driver's own timeouts; everything started here is stopped.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
repo=$(cd "$(dirname "$0")/.." && pwd)
helpers=${BENCH_HELPERS:-$repo/../shared/bench}
[ -x "$helpers/relay-throughput.sh" ] || { echo "no Postfix bench helpers in $helpers (set BENCH_HELPERS)" >&2; exit 2; }
STATE=${BENCH_STATE:-/tmp/relay-bench}; export BENCH_STATE=$STATE
N=${N:-5000} KB=${KB:-4} RCPTS=${RCPTS:-1} PAR=${PAR:-20} REPS=${REPS:-3} DKIM=${DKIM:-1}
TLS=${TLS:-0} DRIVER=${DRIVER:-smtp-source} MODE=${MODE:-embedded} DOMAINS=${DOMAINS:-1} PER_CONN=${PER_CONN:-1}
REJECT_4XX=${REJECT_4XX:-0} REJECT_5XX=${REJECT_5XX:-0} REJECT_AT=${REJECT_AT:-rcpt}
INTAKE_TIMEOUT_S=${INTAKE_TIMEOUT_S:-600} E2E_TIMEOUT_S=${E2E_TIMEOUT_S:-900}
die() { echo "relay-throughput: $*" >&2; exit 2; }
rejects=$(awk -v a="$REJECT_4XX" -v b="$REJECT_5XX" 'BEGIN { print (a + 0 > 0 || b + 0 > 0) ? 1 : 0 }')
if [ -z "${SINK:-}" ]; then SINK=smtp-sink; [ "$TLS" != 0 ] || [ "$rejects" = 1 ] && SINK=smart; fi
case $SINK in smtp-sink | smart) ;; *) die "SINK=smtp-sink or smart, not $SINK" ;; esac
case $DRIVER in smtp-source | load) ;; *) die "DRIVER=smtp-source or load, not $DRIVER" ;; esac
case $MODE in embedded | mongo | sqs) ;; *) die "MODE=embedded, mongo or sqs, not $MODE" ;; esac
case $TLS in 0 | 1 | verify) ;; *) die "TLS=0, 1 or verify, not $TLS" ;; esac
[ "$SINK" = smart ] || [ "$TLS" = 0 ] || die "TLS=$TLS needs SINK=smart (smtp-sink has no STARTTLS)"
[ "$SINK" = smart ] || [ "$rejects" = 0 ] || die "REJECT_4XX/REJECT_5XX need SINK=smart"
[ "$DRIVER" = load ] || [ "$DOMAINS$PER_CONN" = 11 ] || die "DOMAINS and PER_CONN need DRIVER=load"
# smtp-sink counts transactions, and ZoneRelay makes one per recipient domain: only the smart sink counts recipients.
[ "$SINK" = smart ] || [ "$DOMAINS" = 1 ] || die "DOMAINS > 1 needs SINK=smart"
# The default comparison prints the line it always did; any option adds its fields.
extras=0
[ "$SINK$TLS$DRIVER$MODE$rejects" = smtp-sink0smtp-sourceembedded0 ] || extras=1
if [ "$SINK" = smart ]; then SINK_ADDR=127.0.0.2 SINK_PORT=2636 SINK_HTTP=2637; else SINK_ADDR=127.0.0.2 SINK_PORT=2626; fi
PORT=2527
work=$STATE/zonerelay
mkdir -p "$STATE"
rm -rf "$work" && mkdir -p "$work"
# The last run's spool was just deleted. On ext4 without a journal (this machine's root), every new file's inode
# search skips inodes deleted in the last 5 s, or 305 s while their inode table block is dirty: thousands of them
# cost ZoneRelay ~15% of its CPU. Written back (sync) and 6 s later they no longer count.
sync && sleep 6

relay_pid='' sink_pid='' started_services=''
stop_pid() { # $1 pid of a child of this script: TERM, then reap it
  if [ -n "$1" ] && kill "$1" 2>/dev/null; then wait "$1" 2>/dev/null || true; fi
}
cleanup() {
  stop_pid "$relay_pid"
  "$helpers/postfix-setup.sh" down >/dev/null 2>&1 || true
  if [ -n "$sink_pid" ]; then
    stop_pid "$sink_pid"
  else
    "$helpers/sink.sh" stop "$SINK_ADDR" "$SINK_PORT" >/dev/null 2>&1 || true
  fi
  if [ "$MODE" = mongo ]; then mongo_drop >/dev/null 2>&1 || true; fi
  for s in $started_services; do bash "$repo/scripts/services/$s.sh" down >/dev/null 2>&1 || true; done
}
trap cleanup EXIT

# The backend services of MODE (started only when not running already; those are stopped again on exit).
services=
case $MODE in mongo) services="mongo redis" ;; sqs) services=aws ;; esac
for s in $services; do
  if ! bash "$repo/scripts/services/$s.sh" status >/dev/null 2>&1; then
    bash "$repo/scripts/services/$s.sh" up >&2
    started_services+=" $s"
  fi
done
service_env() { bash "$repo/scripts/services/$1.sh" env | sed -n "s/^$2=//p"; }
mongo_url=
mongo_drop() { # the bench's own database, dropped before and after (FerretDB keeps it on disk)
  (cd "$repo" && timeout 30 node -e '
    const { MongoClient } = require("mongodb");
    const c = new MongoClient(process.argv[1], { serverSelectionTimeoutMS: 5000 });
    c.db().dropDatabase().finally(() => c.close());' "$mongo_url")
}
if [ "$MODE" = mongo ]; then mongo_url="$(service_env mongo MONGO_URL)relaybench"; mongo_drop >/dev/null; fi

if [ "$SINK" = smart ]; then
  (exec 3<>"/dev/tcp/$SINK_ADDR/$SINK_PORT") 2>/dev/null && die "$SINK_ADDR:$SINK_PORT is already in use"
  : >"$STATE/smart-sink.log"
  sink_tls=1 && [ "$TLS" = 0 ] && sink_tls=0
  SINK_ADDR=$SINK_ADDR SINK_PORT=$SINK_PORT SINK_HTTP_PORT=$SINK_HTTP SINK_TLS=$sink_tls SINK_CERT_OUT=$work/sink-cert.pem \
    REJECT_4XX=$REJECT_4XX REJECT_5XX=$REJECT_5XX REJECT_AT=$REJECT_AT SINK_TTL_S=${SINK_TTL_S:-7200} \
    node --import tsx "$repo/bench/sink.ts" >"$STATE/smart-sink.log" 2>&1 &
  sink_pid=$! # node itself (a simple command in the background), so the kill in cleanup reaches it
  for _ in $(seq 100); do grep -q '^sink up' "$STATE/smart-sink.log" && break; sleep 0.1; done
  grep -q '^sink up' "$STATE/smart-sink.log" || { cat "$STATE/smart-sink.log" >&2; die "the smart sink did not start"; }
else
  "$helpers/sink.sh" start "$SINK_ADDR" "$SINK_PORT" >/dev/null
fi
"$helpers/postfix-setup.sh" up "127.0.0.1:2526" "$SINK_ADDR:$SINK_PORT" >/dev/null
pf_conf=/etc/postfix-relaybench pf=()
# encrypt = mandatory TLS without checking the certificate; secure = checked against smtp_tls_CAfile and a name
# (the sink's certificate names sink.bench.test). As a busy relay would be tuned: the TLS session cache a Debian
# main.cf has, and TLS connections reused through tlsproxy (without it Postfix makes one TLS session per message,
# where ZoneRelay keeps its connections).
case $TLS in
1) pf+=(smtp_tls_security_level=encrypt) ;;
verify) pf+=(smtp_tls_security_level=secure "smtp_tls_CAfile=$work/sink-cert.pem" smtp_tls_secure_cert_match=sink.bench.test) ;;
esac
if [ "$TLS" != 0 ]; then
  pf+=("smtp_tls_session_cache_database=btree:\${data_directory}/smtp_scache" smtp_tls_connection_reuse=yes)
  postconf -c "$pf_conf" -M "tlsproxy/unix=tlsproxy unix - - n - 0 tlsproxy"
fi
# Refused recipients come back within seconds (defaults: 300 s and more), so a run can wait for them.
[ "$rejects" = 1 ] && pf+=(minimal_backoff_time=1s maximal_backoff_time=2s queue_run_delay=1s)
if [ ${#pf[@]} -gt 0 ]; then
  postconf -c "$pf_conf" -e "${pf[@]}"
  postfix -c "$pf_conf" reload >/dev/null 2>&1
fi

dkim=""
if [ "$DKIM" = 1 ]; then
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/dkim.pem" 2>/dev/null
  dkim="dkim: { keys: [{ domain: sender.test, selector: bench, privateKeyFile: $work/dkim.pem }] }"
fi
queue="{ spoolDir: $work/spool, dbPath: $work/queue.sqlite"
extra_yaml="" relay_env=()
case $MODE in
mongo)
  queue+=", backend: mongo"
  extra_yaml+="dbs: { mongo: \"$mongo_url\", redis: \"$(service_env redis REDIS_URL)\", redisPrefix: \"zrbench:\" }"$'\n'
  ;;
sqs)
  bucket=relaybench-$(date +%s)-$$
  moto=$(service_env aws MOTO_ENDPOINT)
  curl -sf -X PUT "$moto/$bucket" >/dev/null || die "could not create bucket $bucket at $moto"
  queue+=", backend: sqs"
  extra_yaml+="aws: { endpoint: \"$moto\", bucket: $bucket, queuePrefix: $bucket }"$'\n'
  relay_env=(AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1)
  ;;
esac
# A refused recipient is retried after 1 s (default 5 min), and every bounce gets its DSN, as with Postfix.
[ "$rejects" = 1 ] && queue+=", retrySchedule: [1s]" && extra_yaml+="bounces: { maxPerSender: 0 }"$'\n'
queue+=" }"
zone="host: $SINK_ADDR, port: $SINK_PORT, connections: 50"
# TLS=1: opportunistic STARTTLS (the default) goes unverified; the sink offers it, and drive() checks it was used.
# TLS=verify: the sink's certificate names 127.0.0.2 (an IP SAN) and is trusted through tls.caFile.
[ "$TLS" = verify ] && zone+=", requireTLS: true" && extra_yaml+="tls: { caFile: $work/sink-cert.pem }"$'\n'
cat >"$work/zonerelay.yaml" <<YAML
hostname: bench.zonerelay.test
log: { level: warn }
smtpInterfaces: { feeder: { host: 127.0.0.1, port: $PORT, maxClients: 1000 } }
api: { host: 127.0.0.1, port: 12089 }
queue: $queue
zones: { default: { $zone } }
domainConfig: { default: { maxConnections: 50 } }
$extra_yaml$dkim
YAML
env "${relay_env[@]}" node "$repo/scripts/zonerelay.mjs" check-config --config "$work/zonerelay.yaml" >/dev/null 2>&1 ||
  { node "$repo/scripts/zonerelay.mjs" check-config --config "$work/zonerelay.yaml"; exit 1; }
env "${relay_env[@]}" node "$repo/scripts/zonerelay.mjs" start --config "$work/zonerelay.yaml" >"$work/relay.log" 2>&1 &
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
kv() { sed -n "s/.*\b$1=\([^ ]*\).*/\1/p" <<<"$2"; }
# CPU ticks of the backend services of MODE (FerretDB + Redis, or moto); 0 in embedded mode.
backend_cpu() {
  local t=0 p f
  for f in ferretdb/ferretdb redis/redis moto/moto; do
    case "$MODE:$f" in mongo:ferretdb/* | mongo:redis/* | sqs:moto/*) ;; *) continue ;; esac
    p=$(cat "/var/lib/zonerelay-test/$f.pid" 2>/dev/null) || continue
    t=$((t + $(tree_cpu "$p")))
  done
  echo "$t"
}
sink_line() { # the smart sink's counters; smtp-sink only has a message count
  if [ "$SINK" = smart ]; then curl -sf -m 10 "http://$SINK_ADDR:$SINK_HTTP/count"; else
    echo "settled=$("$helpers/sink.sh" count "$SINK_ADDR" "$SINK_PORT")"
  fi
}
# Drives one run with bench/load.ts or smtp-source and waits for the sink to settle every recipient the relay
# accepted (smtp-sink: every message). Prints the fields of ../shared/bench/relay-throughput.sh's line, plus
# p50_ms/p99_ms/errors (load) and the sink's counts during the run (sink_*). e2e is timed from the driver's first
# connect to the moment the sink settled the last recipient (the sink reports it: no polling error).
drive() { # $1 relay port
  local before after out t0 t1 t2 want expect k
  before=$(sink_line) || { echo "msgs=$n FAILED: no sink counters"; return; }
  if [ "$DRIVER" = load ]; then
    out=$(timeout "$INTAKE_TIMEOUT_S" node --import tsx "$repo/bench/load.ts" --to "127.0.0.1:$1" --messages "$n" \
      --concurrency "$PAR" --kb "$kb" --rcpts "$rcpts" --domains "$DOMAINS" --per-conn "$PER_CONN" \
      2>"$STATE/load.err") || { echo "msgs=$n FAILED load: $(head -c 300 "$STATE/load.err" | tr '\n' ' ')"; return; }
    t0=$(kv t0_ms "$out") t1=$(kv t1_ms "$out")
    if [ "$SINK" = smart ]; then expect=$(kv accepted_rcpts "$out"); else expect=$(kv accepted "$out"); fi
    out=" p50_ms=$(kv p50_ms "$out") p99_ms=$(kv p99_ms "$out") errors=$(kv errors "$out")"
  else
    t0=$(date +%s%3N)
    timeout "$INTAKE_TIMEOUT_S" smtp-source -s "$PAR" -m "$n" -l $((kb * 1024)) -r "$rcpts" -f bench@sender.test \
      -t rcpt@example.test "127.0.0.1:$1" >"$STATE/src.out" 2>&1 ||
      { echo "msgs=$n FAILED smtp-source: $(head -c 300 "$STATE/src.out" | tr '\n' ' ')"; return; }
    t1=$(date +%s%3N)
    grep -qiE 'fatal|error' "$STATE/src.out" && { echo "msgs=$n FAILED smtp-source: $(head -c 300 "$STATE/src.out")"; return; }
    if [ "$SINK" = smart ]; then expect=$((n * rcpts)); else expect=$n; fi
    out=""
  fi
  want=$(($(kv settled "$before") + expect))
  if [ "$SINK" = smart ]; then
    after=$(curl -s -m $((E2E_TIMEOUT_S + 10)) "http://$SINK_ADDR:$SINK_HTTP/wait?settled=$want&timeout_s=$E2E_TIMEOUT_S")
    t2=$(kv at_ms "$after")
  else
    local deadline=$(($(date +%s) + E2E_TIMEOUT_S))
    while after=$(sink_line); [ "$(kv settled "$after")" -lt "$want" ] && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.02; done
    [ "$(kv settled "$after")" -ge "$want" ] && t2=$(date +%s%3N) || t2=
  fi
  [ -n "$t2" ] || { echo "msgs=$n FAILED e2e timeout: sink settled $(($(kv settled "$after") - want + expect)) of $expect"; return; }
  for k in sess tls msgs rcpts dsn plain rej4 rej5; do
    [ -n "$(kv "$k" "$after")" ] && out+=" sink_$k=$(($(kv "$k" "$after") - $(kv "$k" "$before")))"
  done
  # With TLS every transaction must have been encrypted (opportunistic STARTTLS would fall back silently).
  if [ "$TLS" != 0 ] && [ "$(kv sink_plain "$out")" != 0 ]; then
    echo "msgs=$n FAILED transactions without TLS at the sink:$out"
    return
  fi
  awk -v n="$n" -v a="$t0" -v b="$t1" -v c="$t2" -v e="$expect" -v out="$out" 'BEGIN {
    if (b <= a) b = a + 1; if (c <= a) c = a + 1   # 1 ms at least: no division by zero on a tiny run
    printf "msgs=%d intake_s=%.2f e2e_s=%.2f intake_rate=%.0f e2e_rate=%.0f expected=%d%s\n",
      n, (b - a) / 1000, (c - a) / 1000, n * 1000 / (b - a), n * 1000 / (c - a), e, out }'
}
run() { # $1 port $2 pid of the relay's process tree -> one line: the driver's fields plus cpu_ticks=
  local c0 c1 b0 b1 line
  c0=$(tree_cpu "$2") b0=$(backend_cpu)
  if [ "$SINK$DRIVER" = smtp-sinksmtp-source ]; then
    line=$(EXPECT=$n "$helpers/relay-throughput.sh" 127.0.0.1 "$1" "$n" "$kb" "$PAR" "$rcpts")
  else
    line=$(drive "$1")
  fi
  c1=$(tree_cpu "$2") b1=$(backend_cpu)
  echo "$line cpu_ticks=$((c1 - c0)) backend_ticks=$((b1 - b0))"
}
hz=$(getconf CLK_TCK)

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# One unrecorded warm-up each, then per size × recipients REPS interleaved runs; medians are reported (all runs
# are logged). A failed run (a message lost or a timeout) stops the bench.
checked() { # $1 name $2 line -> $2, or exit 1 when the run failed
  [[ $2 != *FAILED* ]] && echo "$2" && return
  echo "relay-throughput: $1 run failed: $2" >&2
  exit 1
}
n=$((N / 10 + 1)) kb=${KB%% *} rcpts=${RCPTS%% *}
checked zonerelay "$(run "$PORT" "$relay_pid")" >/dev/null
checked postfix "$(run 2526 "$postfix_pid")" >/dev/null
n=$N
for kb in $KB; do
  for rcpts in $RCPTS; do
    oi="" pi="" oe="" pe="" oc="" pc="" ob="" o50="" p50="" o99="" p99="" oerr=0 perr=0
    for rep in $(seq "$REPS"); do
      ours=$(run "$PORT" "$relay_pid"); echo "zonerelay rep=$rep $ours" >>"$STATE/relay-throughput.log"
      checked zonerelay "$ours" >/dev/null
      theirs=$(run 2526 "$postfix_pid"); echo "postfix rep=$rep $theirs" >>"$STATE/relay-throughput.log"
      checked postfix "$theirs" >/dev/null
      oi+=" $(field intake_rate "$ours")" pi+=" $(field intake_rate "$theirs")"
      oe+=" $(field e2e_rate "$ours")" pe+=" $(field e2e_rate "$theirs")"
      oc+=" $(field cpu_ticks "$ours")" pc+=" $(field cpu_ticks "$theirs")" ob+=" $(field backend_ticks "$ours")"
      o50+=" $(field p50_ms "$ours")" p50+=" $(field p50_ms "$theirs")"
      o99+=" $(field p99_ms "$ours")" p99+=" $(field p99_ms "$theirs")"
      oerr=$((oerr + $(field errors "$ours" | grep . || echo 0))) perr=$((perr + $(field errors "$theirs" | grep . || echo 0)))
    done
    rss=$(awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$relay_pid/status")
    oi=$(median <<<"$oi") pi=$(median <<<"$pi") oe=$(median <<<"$oe") pe=$(median <<<"$pe")
    oc=$(median <<<"$oc") pc=$(median <<<"$pc") ob=$(median <<<"$ob")
    more=""
    if [ "$extras" = 1 ]; then
      more=" mode=$MODE sink=$SINK tls=$TLS driver=$DRIVER"
      [ "$rejects" = 1 ] && more+=" reject_4xx=$REJECT_4XX reject_5xx=$REJECT_5XX reject_at=$REJECT_AT"
      [ "$DRIVER" = load ] && more+=" domains=$DOMAINS per_conn=$PER_CONN zonerelay_p50_ms=$(median <<<"$o50")"
      [ "$DRIVER" = load ] && more+=" zonerelay_p99_ms=$(median <<<"$o99") postfix_p50_ms=$(median <<<"$p50")"
      [ "$DRIVER" = load ] && more+=" postfix_p99_ms=$(median <<<"$p99") zonerelay_errors=$oerr postfix_errors=$perr"
      [ "$MODE" != embedded ] && more+=" zonerelay_backend_cpu_ms_per_msg=$(awk -v t="$ob" -v hz="$hz" -v n="$N" 'BEGIN { printf "%.2f", t * 1000 / hz / n }')"
    fi
    awk -v n="$N" -v kb="$kb" -v r="$rcpts" -v p="$PAR" -v oi="$oi" -v pi="$pi" -v oe="$oe" -v pe="$pe" \
      -v oc="$oc" -v pc="$pc" -v hz="$hz" -v rss="$rss" -v dkim="$DKIM" -v more="$more" 'BEGIN{
      printf "relay-throughput n=%d kb=%d rcpts=%d par=%d dkim=%d zonerelay_intake=%s postfix_intake=%s intake_ratio=%.2f zonerelay_e2e=%s postfix_e2e=%s e2e_ratio=%.2f zonerelay_cpu_ms_per_msg=%.2f postfix_cpu_ms_per_msg=%.2f zonerelay_peak_rss_mb=%s%s\n",
        n, kb, r, p, dkim, oi, pi, (pi > 0 ? oi / pi : 0), oe, pe, (pe > 0 ? oe / pe : 0),
        oc * 1000 / hz / n, pc * 1000 / hz / n, rss, more }'
  done
done
