#!/usr/bin/env bash
# What service_directives cost per single-shot CGI request (issue 16 item 4), the gateway hit
# directly (no Caddy) by wrk, the same hello-world script, rounds alternating:
#   plain         the shared fork server (no directives)
#   directives    MemoryMax=, TasksMax=, LimitNOFILE=: the function's own fork server, started
#                 once in its systemd scope, forks every request there (what Conductor does)
#   scope/request a `systemd-run --scope` per request (the design not taken)
# at 1 connection (the added latency per request) and at CONNECTIONS (throughput), with the
# CPU per request of the gateway, of the fork server and of the systemd manager from /proc (far
# steadier than rps on a loaded machine). Needs a systemd user manager: started here (bench/functions/user-manager.ts).
# Usage: bench/functions/limits.sh [SECONDS=8] [CONNECTIONS=8] [ROUNDS=2]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-8}; CONNS=${2:-8}; ROUNDS=${3:-2}
HERE=$PWD/bench/functions
# shellcheck source=bench/functions/lib.sh
source "$HERE/lib.sh"
bench_setup limits wrk node curl systemd-run
GPORT=$(free_port)

node --import tsx bench/functions/user-manager.ts "$TMP/sd.env" >"$TMP/sd.log" 2>&1 & PIDS+=($!)
for _ in $(seq 300); do [ -s "$TMP/sd.env" ] && break; sleep 0.1; done
[ -s "$TMP/sd.env" ] || { echo "no systemd user manager: $(cat "$TMP/sd.log")" >&2; exit 1; }
mapfile -t SDENV < "$TMP/sd.env"
xdg=$(sed -n 's/^XDG_RUNTIME_DIR=//p' "$TMP/sd.env")
MANAGER=$(sed -n 's/^BENCH_MANAGER_PID=//p' "$TMP/sd.env")

mkdir -p "$TMP/root/etc/conductor/services/bench"
cat > "$TMP/root/etc/conductor/services/bench/conductor-service.json" <<JSON
{ "config": { "XDG_RUNTIME_DIR": "$xdg" }, "functions": [
  { "name": "plain", "exec": ["$HERE/hello.sh"], "max_workers": 64, "max_queue": 1024 },
  { "name": "limited", "exec": ["$HERE/hello.sh"], "max_workers": 64, "max_queue": 1024,
    "service_directives": ["MemoryMax=256M", "TasksMax=512", "LimitNOFILE=1024"] },
  { "name": "perrequest", "max_workers": 64, "max_queue": 1024,
    "exec": ["systemd-run", "--user", "--scope", "--quiet", "--collect", "-p", "MemoryMax=256M", "-p", "TasksMax=512", "--", "$HERE/hello.sh"] }
] }
JSON
# The gateway runs under the manager too (a scope in app.slice; systemd-run execs it, so $! is
# its pid): the CGI processes of every row then compete for the CPU from inside the same
# manager's cgroup, as on a server where everything is in a unit. (A gateway left in the root
# cgroup of this loaded machine would see its plain CGIs run against every task of the machine
# one by one, and the scoped ones as one cgroup among them: a bias of up to 3x, measured.)
env "${SDENV[@]}" CONDUCTOR_SCOPE=user systemd-run --user --scope --quiet --collect -- node dist/conductor/bin.js --root "$TMP/root" gateway --listen "127.0.0.1:$GPORT" \
  --metrics-listen none --max-event-loop-delay 0 --log-level warn & GPID=$!; PIDS+=($GPID)
URL="http://127.0.0.1:$GPORT/.conductor/functions"
for f in plain limited perrequest; do
  for _ in $(seq 200); do curl -sf "$URL/bench-$f/" | grep -q hello && break; sleep 0.1; done
  curl -sf "$URL/bench-$f/" | grep -q hello || { echo "bench-$f does not answer" >&2; exit 1; }
done
spawner() { pgrep -P "$GPID" -f "conductor-spawner .*/$1" | head -n 1; }
SHARED=$(spawner spawner.sock); OWN=$(spawner bench-limited.spawner.sock)
[ -n "$SHARED" ] && [ -n "$OWN" ] || { echo "fork servers not found (npm run build compiles conductor-spawner)" >&2; exit 1; }
SCOPE=$(env "${SDENV[@]}" systemctl --user list-units --plain --no-legend 'conductor-function-bench-limited-*' | awk '{ print $1 }')

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
measure() { # label url conns spawner-pid -> one table row
  local label=$1 url=$2 c=$3 sp=$4 g0 g1 s0 s1 m0 m1 n lat
  g0=$(ticks "$GPID"); s0=$(ticks "$sp"); m0=$(ticks "$MANAGER")
  wrk -t1 -c"$c" -d"${DUR}s" --latency "$url" >"$TMP/wrk" 2>&1 || true
  g1=$(ticks "$GPID"); s1=$(ticks "$sp"); m1=$(ticks "$MANAGER")
  n=$(awk '/requests in/ { print $1 }' "$TMP/wrk")
  lat=$(awk '$1 == "50%" { print $2 }' "$TMP/wrk")
  awk -v l="$label" -v c="$c" -v n="$n" -v d="$DUR" -v lat="$lat" -v g="$((g1 - g0))" -v s="$((s1 - s0))" -v m="$((m1 - m0))" -v hz="$HZ" \
    'BEGIN { printf "| %s | %d | %.1f | %s | %.2f | %.2f | %.2f |\n", l, c, n / d, lat, g * 1000 / hz / n, s * 1000 / hz / n, m * 1000 / hz / n }'
}
echo "service_directives per request: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), wrk -t1 -d${DUR}s, direct (no Caddy); scope $SCOPE"
echo
echo "| CGI (same hello-world script) | connections | rps | median latency | gateway CPU ms/request | fork server CPU ms/request | systemd user manager CPU ms/request |"
echo "|---|---|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
  for c in 1 "$CONNS"; do
    measure "plain, shared fork server (round $r)" "$URL/bench-plain/" "$c" "$SHARED"
    measure "service_directives, own fork server in its scope (round $r)" "$URL/bench-limited/" "$c" "$OWN"
    measure "a systemd-run --scope per request (round $r)" "$URL/bench-perrequest/" "$c" "$SHARED"
  done
done
