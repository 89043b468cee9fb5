#!/usr/bin/env bash
# CPU per single-shot CGI request, lighttpd mod_cgi vs the gateway + conductor-spawner, each
# hit directly (no Caddy) by wrk on the same hello-world script, in alternating rounds.
# Prints rps, the whole machine's busy CPU per request (/proc/stat: every process, the
# scripts' fork+exec included) and the server processes' own CPU per request. CPU time per
# request moves far less with the machine's load than rps does.
# Usage: bench/functions/cpu.sh [SECONDS=8] [CONNECTIONS=8] [ROUNDS=2]
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-8}; CONNS=${2:-8}; ROUNDS=${3:-2}
HERE=$PWD/bench/functions
# shellcheck source=bench/functions/lib.sh
source "$HERE/lib.sh"
bench_setup cpu lighttpd wrk node curl
LPORT=$(free_port); GPORT=$(free_port)

LCONF=$(lighttpd_cgi "$TMP" "$LPORT")
lighttpd -D -f "$LCONF" & LPID=$!; PIDS+=($LPID)
mkdir -p "$TMP/root/etc/conductor/services/bench"
cat > "$TMP/root/etc/conductor/services/bench/conductor-service.json" <<JSON
{ "functions": [ { "name": "single", "exec": ["$HERE/hello.sh"], "max_workers": 64, "max_queue": 1024 } ] }
JSON
node dist/conductor/bin.js --root "$TMP/root" gateway --listen "127.0.0.1:$GPORT" --metrics-listen none --max-event-loop-delay 0 --log-level warn & GPID=$!; PIDS+=($GPID)
for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$GPORT/healthz" && break; sleep 0.05; done
LURL="http://127.0.0.1:$LPORT/hello.cgi"; GURL="http://127.0.0.1:$GPORT/.conductor/functions/bench-single/"
for _ in $(seq 100); do curl -sf "$GURL" | grep -q hello && break; sleep 0.05; done
SPID=$(pgrep -P "$GPID" -f conductor-spawner | head -n 1 || true)
[ -n "$SPID" ] || { echo "the gateway's conductor-spawner is not running (npm run build compiles it)" >&2; exit 1; }
curl -sf "$LURL" | grep -q hello || { echo "lighttpd does not answer" >&2; exit 1; }

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }          # utime + stime, own threads only
busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; } # user nice system irq softirq
HZ=$(getconf CLK_TCK)
measure() { # label url pid... -> one table row
  local label=$1 url=$2; shift 2
  local b0 b1 n own="" p i=0; local -a t0=()
  b0=$(busy); for p in "$@"; do t0+=("$(ticks "$p")"); done
  wrk -t1 -c"$CONNS" -d"${DUR}s" "$url" >"$TMP/wrk" 2>&1
  b1=$(busy)
  n=$(awk '/requests in/ { print $1 }' "$TMP/wrk")
  for p in "$@"; do own+="$(awk -v a="${t0[$i]}" -v b="$(ticks "$p")" -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) * 1000 / hz / n }') | "; i=$((i + 1)); done
  [ $# -eq 1 ] && own+="- | "
  awk -v a="$b0" -v b="$b1" -v n="$n" -v d="$DUR" -v hz="$HZ" -v l="$label" -v own="$own" 'BEGIN { printf "| %s | %.1f | %.2f | %s\n", l, n / d, (b - a) * 1000 / hz / n, own }'
}
echo "CGI CPU per request: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), wrk -t1 -c$CONNS -d${DUR}s, direct (no Caddy)"
echo
echo "| server (same hello-world CGI) | rps | machine CPU ms/request | server process ms/request | conductor-spawner ms/request |"
echo "|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
  measure "lighttpd mod_cgi (round $r)" "$LURL" "$LPID"
  measure "conductor gateway + spawner (round $r)" "$GURL" "$GPID" "$SPID"
done
