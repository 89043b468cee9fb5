#!/usr/bin/env bash
# Functions benchmark, side by side in one run, all through the same Caddy:
#   lighttpd mod_cgi | our CGI (single) | http-stdio multi (warm) | parallel daemon
# on the same hello-world script (bench/functions/hello.sh). Prints a markdown table.
# Usage: [WARMUP=2] bench/functions/run.sh [DURATION_SEC=10] [CONNECTIONS=32]   (WARMUP: unmeasured seconds before each route)
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-10}
CONNS=${2:-32}
HERE=$PWD/bench/functions
# shellcheck source=bench/functions/lib.sh
source "$HERE/lib.sh"
bench_setup fn caddy lighttpd wrk node curl

wait_http() { for _ in $(seq 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "timeout waiting for $1" >&2; exit 1; }

LPORT=$(free_port); GPORT=$(free_port); CPORT=$(free_port); APORT=$(free_port)

# lighttpd with mod_cgi, the reference: the same script as /hello.cgi.
LCONF=$(lighttpd_cgi "$TMP" "$LPORT")
lighttpd -D -f "$LCONF" & PIDS+=($!)

# The gateway, with one service declaring the same script in each mode.
mkdir -p "$TMP/root/etc/conductor/services/bench"
cat > "$TMP/root/etc/conductor/services/bench/conductor-service.json" <<JSON
{ "functions": [
  { "name": "single", "exec": ["$HERE/hello.sh"], "max_workers": 64, "max_queue": 1024 },
  { "name": "multi", "format": "http-stdio", "mode": "multi", "min_warm": 4, "max_workers": 8, "max_queue": 1024, "exec": ["$HERE/hello.sh", "--http-stdio"] },
  { "name": "multibuf", "format": "http-stdio", "mode": "multi", "min_warm": 4, "max_workers": 8, "max_queue": 1024, "exec": ["$HERE/hello.sh", "--http-stdio-buffered"] },
  { "name": "parallel", "mode": "parallel", "min_warm": 1, "max_workers": 64, "max_queue": 1024, "exec": ["$HERE/hello.sh", "--daemon"] }
] }
JSON
# Caddy reaches functions as in production: over the gateway's function socket
# (functions_listen, unix:/run/conductor/functions.sock on a server), not over TCP.
node dist/conductor/bin.js --root "$TMP/root" gateway --listen "127.0.0.1:$GPORT" --functions-listen "unix:$TMP/functions.sock" --metrics-listen none --max-event-loop-delay 0 --log-level warn & PIDS+=($!)
# A second gateway without the fork server: single-shot CGI forks the Node process itself.
GPORT2=$(free_port)
mkdir -p "$TMP/root2/etc/conductor/services/nofork"
cat > "$TMP/root2/etc/conductor/services/nofork/conductor-service.json" <<JSON
{ "functions": [ { "name": "single", "exec": ["$HERE/hello.sh"], "max_workers": 64, "max_queue": 1024 } ] }
JSON
CONDUCTOR_CGI_SPAWNER= node dist/conductor/bin.js --root "$TMP/root2" gateway --listen "127.0.0.1:$GPORT2" --functions-listen "unix:$TMP/functions2.sock" --metrics-listen none --max-event-loop-delay 0 --log-level warn & PIDS+=($!)

cat > "$TMP/caddy.json" <<JSON
{ "admin": { "listen": "127.0.0.1:$APORT" }, "logging": { "logs": { "default": { "level": "ERROR" } } },
  "storage": { "module": "file_system", "root": "$TMP/caddy" },
  "apps": { "http": { "servers": { "conductor": { "@id": "conductor-server", "listen": ["127.0.0.1:$CPORT"], "automatic_https": { "disable": true }, "routes": [
    { "match": [{ "path": ["/hello.cgi"] }], "handle": [{ "handler": "reverse_proxy", "upstreams": [{ "dial": "127.0.0.1:$LPORT" }] }] },
    { "match": [{ "path": ["/healthz"] }], "handle": [{ "handler": "reverse_proxy", "upstreams": [{ "dial": "127.0.0.1:$GPORT" }] }] }
  ] } } } } }
JSON
HOME=$TMP XDG_DATA_HOME=$TMP/caddy XDG_CONFIG_HOME=$TMP/caddy caddy run --config "$TMP/caddy.json" >"$TMP/caddy.log" 2>&1 & PIDS+=($!)
wait_http "http://127.0.0.1:$APORT/config/"
wait_http "http://127.0.0.1:$GPORT/healthz"
wait_http "http://127.0.0.1:$GPORT2/healthz"
# Routes exactly as a proxy template would get them.
for _ in $(seq 200); do [ -S "$TMP/functions.sock" ] && [ -S "$TMP/functions2.sock" ] && break; sleep 0.05; done
for spec in bench-single:root:functions.sock bench-multi:root:functions.sock bench-multibuf:root:functions.sock bench-parallel:root:functions.sock nofork-single:root2:functions2.sock; do
  IFS=: read -r id r sock <<<"$spec"
  CONDUCTOR_FUNCTION_ID=$id node dist/conductor/bin.js --root "$TMP/$r" function caddy-config --gateway "unix:$TMP/$sock" \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const x of JSON.parse(s))console.log(x.id+"\t"+JSON.stringify(x.config))})' \
    | while IFS=$'\t' read -r at cfg; do curl -sf -H 'content-type: application/json' -H 'connection: close' -d "$cfg" "http://127.0.0.1:$APORT/id/$at" >/dev/null; done
done

run() { # name url [expected body] -> "rps p99 non2xx"
  local name=$1 url=$2 expect=${3:-hello world}
  curl -sf "$url" | grep -q "$expect" || { echo "$name: $url does not answer $expect" >&2; exit 1; }
  # Warm-up, not measured: a long-running gateway has its request paths compiled by V8's
  # optimising tiers; the first seconds of a route measure the JIT (same for every route).
  wrk -t2 -c"$CONNS" -d"${WARMUP:-2}s" "$url" >/dev/null 2>&1 || true
  wrk -t2 -c"$CONNS" -d"${DUR}s" --latency "$url" >"$TMP/wrk.$name" 2>&1 || true
  local rps p99 non2xx
  rps=$(awk '/^Requests\/sec/ {print $2}' "$TMP/wrk.$name")
  p99=$(awk '$1=="99%" {print $2}' "$TMP/wrk.$name")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$TMP/wrk.$name")
  echo "$rps ${p99:-?} ${non2xx:-0}"
}

BASE="http://127.0.0.1:$CPORT"
declare -A R
R[lighttpd]=$(run lighttpd "$BASE/hello.cgi")
R[single]=$(run single "$BASE/.conductor/functions/bench-single/")
R[nofork]=$(run nofork "$BASE/.conductor/functions/nofork-single/")
R[multi]=$(run multi "$BASE/.conductor/functions/bench-multi/")
R[multibuf]=$(run multibuf "$BASE/.conductor/functions/bench-multibuf/")
R[parallel]=$(run parallel "$BASE/.conductor/functions/bench-parallel/")
R[healthz]=$(run healthz "$BASE/healthz" '"ok":true')
# The comparison the target is about, once more in the other order (noise and warm-up on this
# kind of machine move a single pair by 10-20%); the ratio is taken over both rounds.
R[single2]=$(run single2 "$BASE/.conductor/functions/bench-single/")
R[lighttpd2]=$(run lighttpd2 "$BASE/hello.cgi")

l=$(cut -d' ' -f1 <<<"${R[lighttpd]}"); s=$(cut -d' ' -f1 <<<"${R[single]}")
l2=$(cut -d' ' -f1 <<<"${R[lighttpd2]}"); s2=$(cut -d' ' -f1 <<<"${R[single2]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "-" }'; }
echo
echo "Functions benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), wrk -t2 -c$CONNS -d${DUR}s after ${WARMUP:-2}s of warm-up per route, all through Caddy $(caddy version | cut -d' ' -f1)"
echo
echo "| route (same hello-world script) | rps | p99 | non-2xx | vs lighttpd | vs our CGI |"
echo "|---|---|---|---|---|---|"
row() { local r=${R[$2]}; set -- "$1" $r; echo "| $1 | $2 | $3 | $4 | $(ratio "$2" "$l") | $(ratio "$2" "$s") |"; }
row "lighttpd mod_cgi" lighttpd
row "conductor CGI, mode single (conductor-spawner fork server)" single
row "conductor CGI, mode single, child_process.spawn (no fork server)" nofork
row "conductor http-stdio, mode multi, shell read loop (min_warm 4)" multi
row "conductor http-stdio, mode multi, buffered reader (perl; min_warm 4)" multibuf
row "conductor daemon, mode parallel (min_warm 1)" parallel
row "gateway /healthz (no function: the ceiling)" healthz
row "conductor CGI, mode single, second round" single2
row "lighttpd mod_cgi, second round" lighttpd2
echo
echo "Our CGI vs lighttpd mod_cgi over both rounds: $(ratio "$(awk -v a="$s" -v b="$s2" 'BEGIN { print a + b }')" "$(awk -v a="$l" -v b="$l2" 'BEGIN { print a + b }')")"
