#!/usr/bin/env bash
# CPU time per /auth request, without Caddy: wrk straight at the gateway's /auth (with the
# headers Caddy's forward_auth sends) and at a bare node:http server answering the same headers
# (the Node floor), alternating in short rounds; CPU from /proc/PID/stat (utime + stime) over
# each round. Through Caddy, rounds on these machines vary by ±20%; the CPU a process spends per
# request varies far less, so this shows gaps of a microsecond. Needs wrk and a build (npm run
# build). BENCH_BEFORE=DIR: another checkout, built, whose gateway runs as "before".
# ROUNDS (12), SECONDS_PER_ROUND (2). Prints each round and the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "wrk not installed" >&2; exit 1; }
[ -f dist/conductor/bin.js ] || { echo "dist/conductor/bin.js missing: npm run build" >&2; exit 1; }
root=$(mktemp -d); pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$root"' EXIT
mkdir -p "$root/etc/conductor/policies"
token=bench-static-token-0123456789abcdef
cat > "$root/etc/conductor/policies/bench.json" <<J
{"match":[{"meta":{"peer-id":"bench"},"default_authorizations":{"read":true},"bearer":[{"token":"$token"}]}]}
J
chmod 600 "$root/etc/conductor/policies/bench.json"
port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
names=(); ports=()
start_gateway() { # NAME BIN
  local p; p=$(port)
  node "$2" gateway --root "$root" --listen "127.0.0.1:$p" --metrics-listen none --log-level warn &
  pids+=($!); names+=("$1"); ports+=("$p")
}
start_gateway this dist/conductor/bin.js
[ -n "${BENCH_BEFORE:-}" ] && start_gateway before "$BENCH_BEFORE/dist/conductor/bin.js"
p=$(port)
node -e 'const h={"content-length":"0","cache-control":"no-store","x-conductor-policy":"bench","x-conductor-authorizations":"read","x-conductor-peer-id":"bench"};require("http").createServer((q,s)=>{s.writeHead(200,h);s.end()}).listen(+process.argv[1],"127.0.0.1")' "$p" &
pids+=($!); names+=(floor); ports+=("$p")
H=(-H "Authorization: Bearer $token" -H 'X-Forwarded-For: 127.0.0.1' -H 'X-Forwarded-Host: 127.0.0.1:8080'
  -H 'X-Forwarded-Method: GET' -H 'X-Forwarded-Proto: http' -H 'X-Forwarded-Uri: /c' -H 'User-Agent: wrk'
  -H 'Accept-Encoding: gzip')
for i in "${!ports[@]}"; do
  for _ in $(seq 1 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" "http://127.0.0.1:${ports[$i]}/auth?policy=bench" || true)
    [ "$code" = 200 ] && break; sleep 0.1
  done
  [ "$code" = 200 ] || { echo "${names[$i]} does not answer 200 on /auth" >&2; exit 1; }
done
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)
out=$(mktemp); trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$root" "$out"' EXIT
echo "$(nproc) × $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), Node $(node -v), $(date -u +%FT%RZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "${ROUNDS:-12}"); do
  for i in "${!ports[@]}"; do
    a=$(cpu "${pids[$i]}")
    n=$(wrk -t1 -c8 -d"${SECONDS_PER_ROUND:-2}s" "${H[@]}" "http://127.0.0.1:${ports[$i]}/auth?policy=bench" | awk '/requests in/{print $1}')
    b=$(cpu "${pids[$i]}")
    us=$(awk -v t=$((b - a)) -v n="$n" -v k="$tick" 'BEGIN{printf "%.2f", t * 1e6 / k / n}')
    echo "round $round ${names[$i]}: $n requests, $us µs CPU per request" | tee -a "$out"
  done
done
echo "median µs CPU per request:"
for name in "${names[@]}"; do
  grep " $name: " "$out" | awk '{print $(NF-4)}' | sort -n | awk -v n="$name" '{v[NR]=$1} END{printf "  %s %.2f\n", n, (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'
done
