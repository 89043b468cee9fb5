#!/usr/bin/env bash
# Functions benchmark, side by side in one run, all through the same Caddy:
#   lighttpd mod_cgi | our CGI (single) | http-stdio multi (warm) | parallel daemon
#   | our CGI with service_directives (its scope made once) | a systemd-run --scope per request
# on the same hello-world script (bench/functions/hello.sh). Prints a markdown table. The two
# rows with systemd scopes need a systemd user manager: the script starts one (in a cgroup of
# its own, bench/functions/user-manager.ts); LIMITS=0 leaves them out.
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

# A user manager, for the functions with service_directives (their scopes) and the
# scope-per-request comparison. The gateway is not one of its units: it reaches the manager
# through XDG_RUNTIME_DIR, as `conductor gateway --scope user` would.
LIMITS=${LIMITS:-1}
SDENV=()
INMGR=()
if [ "$LIMITS" = 1 ]; then
  node --import tsx bench/functions/user-manager.ts "$TMP/sd.env" >"$TMP/sd.log" 2>&1 & PIDS+=($!)
  for _ in $(seq 300); do [ -s "$TMP/sd.env" ] && break; sleep 0.1; done
  [ -s "$TMP/sd.env" ] || { echo "no systemd user manager (LIMITS=0 skips the scope rows): $(cat "$TMP/sd.log")" >&2; exit 1; }
  mapfile -t SDENV < "$TMP/sd.env"
  SDENV+=(CONDUCTOR_SCOPE=user)
  # Every server then runs under the manager (a scope each, in app.slice): on a loaded machine a
  # server left in the root cgroup would compete for the CPU task by task against the scoped
  # function's cgroup, which skews the comparison (up to 3x, measured).
  INMGR=(env "$(grep '^XDG_RUNTIME_DIR=' "$TMP/sd.env")" systemd-run --user --scope --quiet --collect --)
fi

# lighttpd with mod_cgi, the reference: the same script as /hello.cgi.
LCONF=$(lighttpd_cgi "$TMP" "$LPORT")
"${INMGR[@]}" lighttpd -D -f "$LCONF" & PIDS+=($!)

# The gateway, with one service declaring the same script in each mode.
mkdir -p "$TMP/root/etc/conductor/services/bench"
# With the user manager: the script with service_directives (the scope is made once, its fork
# server forks every request in it), and the design not taken, a new scope per request
# (service "scoped": systemd-run --scope execs the script inside it; it finds the manager
# through the XDG_RUNTIME_DIR of that service's config).
LIMITED=
if [ "$LIMITS" = 1 ]; then
  xdg=$(sed -n 's/^XDG_RUNTIME_DIR=//p' "$TMP/sd.env")
  LIMITED=',
  { "name": "limited", "exec": ["'"$HERE"'/hello.sh"], "max_workers": 64, "max_queue": 1024,
    "service_directives": ["MemoryMax=256M", "TasksMax=512", "LimitNOFILE=1024"] }'
  mkdir -p "$TMP/root/etc/conductor/services/scoped"
  cat > "$TMP/root/etc/conductor/services/scoped/conductor-service.json" <<JSON
{ "config": { "XDG_RUNTIME_DIR": "$xdg" }, "functions": [ { "name": "perrequest", "max_workers": 64, "max_queue": 1024,
    "exec": ["systemd-run", "--user", "--scope", "--quiet", "--collect", "-p", "MemoryMax=256M", "-p", "TasksMax=512", "--", "$HERE/hello.sh"] } ] }
JSON
fi
cat > "$TMP/root/etc/conductor/services/bench/conductor-service.json" <<JSON
{ "functions": [
  { "name": "single", "exec": ["$HERE/hello.sh"], "max_workers": 64, "max_queue": 1024 },
  { "name": "multi", "format": "http-stdio", "mode": "multi", "min_warm": 4, "max_workers": 8, "max_queue": 1024, "exec": ["$HERE/hello.sh", "--http-stdio"] },
  { "name": "multibuf", "format": "http-stdio", "mode": "multi", "min_warm": 4, "max_workers": 8, "max_queue": 1024, "exec": ["$HERE/hello.sh", "--http-stdio-buffered"] },
  { "name": "parallel", "mode": "parallel", "min_warm": 1, "max_workers": 64, "max_queue": 1024, "exec": ["$HERE/hello.sh", "--daemon"] }$LIMITED
] }
JSON
# Caddy reaches functions as in production: over the gateway's function socket
# (functions_listen, unix:/run/conductor/functions.sock on a server), not over TCP.
env "${SDENV[@]}" "${INMGR[@]}" node dist/conductor/bin.js --root "$TMP/root" gateway --listen "127.0.0.1:$GPORT" --functions-listen "unix:$TMP/functions.sock" --metrics-listen none --max-event-loop-delay 0 --log-level warn & PIDS+=($!)
# A second gateway without the fork server: single-shot CGI forks the Node process itself.
GPORT2=$(free_port)
mkdir -p "$TMP/root2/etc/conductor/services/nofork"
cat > "$TMP/root2/etc/conductor/services/nofork/conductor-service.json" <<JSON
{ "functions": [ { "name": "single", "exec": ["$HERE/hello.sh"], "max_workers": 64, "max_queue": 1024 } ] }
JSON
CONDUCTOR_CGI_SPAWNER= "${INMGR[@]}" node dist/conductor/bin.js --root "$TMP/root2" gateway --listen "127.0.0.1:$GPORT2" --functions-listen "unix:$TMP/functions2.sock" --metrics-listen none --max-event-loop-delay 0 --log-level warn & PIDS+=($!)

cat > "$TMP/caddy.json" <<JSON
{ "admin": { "listen": "127.0.0.1:$APORT" }, "logging": { "logs": { "default": { "level": "ERROR" } } },
  "storage": { "module": "file_system", "root": "$TMP/caddy" },
  "apps": { "http": { "servers": { "conductor": { "@id": "conductor-server", "listen": ["127.0.0.1:$CPORT"], "automatic_https": { "disable": true }, "routes": [
    { "match": [{ "path": ["/hello.cgi"] }], "handle": [{ "handler": "reverse_proxy", "upstreams": [{ "dial": "127.0.0.1:$LPORT" }] }] },
    { "match": [{ "path": ["/healthz"] }], "handle": [{ "handler": "reverse_proxy", "upstreams": [{ "dial": "127.0.0.1:$GPORT" }] }] }
  ] } } } } }
JSON
HOME=$TMP XDG_DATA_HOME=$TMP/caddy XDG_CONFIG_HOME=$TMP/caddy "${INMGR[@]}" caddy run --config "$TMP/caddy.json" >"$TMP/caddy.log" 2>&1 & PIDS+=($!)
wait_http "http://127.0.0.1:$APORT/config/"
wait_http "http://127.0.0.1:$GPORT/healthz"
wait_http "http://127.0.0.1:$GPORT2/healthz"
# Routes exactly as a proxy template would get them.
for _ in $(seq 200); do [ -S "$TMP/functions.sock" ] && [ -S "$TMP/functions2.sock" ] && break; sleep 0.05; done
SPECS=(bench-single:root:functions.sock bench-multi:root:functions.sock bench-multibuf:root:functions.sock bench-parallel:root:functions.sock nofork-single:root2:functions2.sock)
[ "$LIMITS" = 1 ] && SPECS+=(bench-limited:root:functions.sock scoped-perrequest:root:functions.sock)
for spec in "${SPECS[@]}"; do
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
if [ "$LIMITS" = 1 ]; then
  R[limited]=$(run limited "$BASE/.conductor/functions/bench-limited/")
  R[perrequest]=$(run perrequest "$BASE/.conductor/functions/scoped-perrequest/")
  R[single3]=$(run single3 "$BASE/.conductor/functions/bench-single/")
  R[limited2]=$(run limited2 "$BASE/.conductor/functions/bench-limited/")
fi
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
if [ "$LIMITS" = 1 ]; then
  row "conductor CGI, mode single, service_directives (own fork server in its systemd scope)" limited
  row "conductor CGI, mode single, a systemd-run --scope per request (not what Conductor does)" perrequest
  row "conductor CGI, mode single, third round" single3
  row "conductor CGI, mode single, service_directives, second round" limited2
fi
echo
echo "Our CGI vs lighttpd mod_cgi over both rounds: $(ratio "$(awk -v a="$s" -v b="$s2" 'BEGIN { print a + b }')" "$(awk -v a="$l" -v b="$l2" 'BEGIN { print a + b }')")"
if [ "$LIMITS" = 1 ]; then
  s3=$(cut -d' ' -f1 <<<"${R[single3]}"); m1=$(cut -d' ' -f1 <<<"${R[limited]}"); m2=$(cut -d' ' -f1 <<<"${R[limited2]}")
  echo "CGI with service_directives vs without, over both rounds: $(ratio "$(awk -v a="$m1" -v b="$m2" 'BEGIN { print a + b }')" "$(awk -v a="$s2" -v b="$s3" 'BEGIN { print a + b }')")"
fi
