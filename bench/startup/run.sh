#!/usr/bin/env bash
# Cold start of `conductor service ls` over 50 services vs a bare `node -e 0`, side by side
# in one hyperfine run (issue 3: "well under 200 ms"). Prints a markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f dist/conductor/bin.js ] || npm run build >/dev/null
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/base"
cat > "$dir/base/conductor-service.json" <<'JSON'
{ "app_name": "bench", "config": { "IMAGE": "localhost/busybox", "TAG": "v1" },
  "pods": [ { "name": "", "pod_template": "./pod.template" } ],
  "hooks": [ { "id": "h", "when": "post-start", "exec": ["./hook"] } ],
  "display_service_config": ["TAG"] }
JSON
for i in $(seq -w 1 50); do
  mkdir -p "$dir/services/svc$i"
  printf '{ "inherit": ["../../base/conductor-service.json"], "instance_name": "i%s", "config": { "TAG": "v%s" } }\n' "$i" "$i" > "$dir/services/svc$i/conductor-service.json"
done
json=$(mktemp)
hyperfine --warmup 3 --runs "${RUNS:-30}" --export-json "$json" -N \
  'node -e 0' \
  "node dist/conductor/bin.js --services-dir $dir/services service ls" >/dev/null 2>&1
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results
const base = r[0].mean
console.log("| command | mean (ms) | min (ms) | max (ms) | vs node -e 0 |")
console.log("|---|---|---|---|---|")
for (const x of r) console.log(`| \`${x.command.replace(/--services-dir \S+ /, "")}\` | ${(x.mean*1000).toFixed(1)} | ${(x.min*1000).toFixed(1)} | ${(x.max*1000).toFixed(1)} | ${(x.mean/base).toFixed(2)}x |`)
' "$json"
rm -f "$json"
