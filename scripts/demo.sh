#!/usr/bin/env bash
# The demo (README command a), on a fresh Debian 12 machine, as root:
#   installs what is needed, builds Conductor, then under a temporary CONDUCTOR_ROOT brings up
#   Caddy, the gateway and the example services through systemd (a user manager where systemd
#   is not PID 1, as the tests do), and shows the hello pod and a protected function answering
#   through Caddy. Everything it started is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
bash scripts/setup-host.sh
npm ci --no-audit --no-fund >/dev/null
npm run build >/dev/null

demo=$(mktemp -d /tmp/conductor-demo.XXXXXX)
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
admin_port=$(free_port); http_port=$(free_port); gw_port=$(free_port)
export CONDUCTOR_ROOT=$demo CONTAINERS_CONF=$repo/test/fixtures/containers.conf HOME=$demo
# `conductor` on PATH for the units and for the templates that call it.
mkdir -p "$demo/bin"
printf '#!/bin/sh\nexec %s %s "$@"\n' "$(command -v node)" "$repo/dist/conductor/bin.js" > "$demo/bin/conductor"
chmod +x "$demo/bin/conductor"
export PATH="$demo/bin:$PATH"

scope=system sd_pid= created_marker=
cleanup() {
  set +e
  if [ "$scope" = user ] && [ -n "$sd_pid" ]; then
    systemctl --user stop 'conductor-*' caddy.service >/dev/null 2>&1
    kill "$sd_pid" 2>/dev/null; wait "$sd_pid" 2>/dev/null
    bash scripts/user-manager.sh cleanup "conductor-demo-$$"
  fi
  for pod in $(podman pod ls --format '{{.Name}}' 2>/dev/null | grep -E '^(hello|functions)-'); do podman pod rm -f -t 0 "$pod" >/dev/null 2>&1; done
  [ -n "$created_marker" ] && rmdir /run/systemd/system 2>/dev/null
  rm -rf "$demo"
}
trap cleanup EXIT

if [ "$(cat /proc/1/comm)" != systemd ]; then
  # No systemd as PID 1 (containers, these VMs): a real systemd user manager, as the tests use,
  # in a cgroup of its own so that it manages the demo's units and not every process here.
  scope=user
  [ -d /run/systemd/system ] || { mkdir -p /run/systemd/system; created_marker=1; }
  export XDG_RUNTIME_DIR=$demo/xdg-runtime XDG_CONFIG_HOME=$demo/xdg-config
  mkdir -p "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME"; chmod 700 "$XDG_RUNTIME_DIR"
  bash scripts/user-manager.sh run "conductor-demo-$$" >"$demo/systemd.log" 2>&1 &
  sd_pid=$!
  for _ in $(seq 100); do systemctl --user is-system-running >/dev/null 2>&1 && break; state=$(systemctl --user is-system-running 2>/dev/null || true); [ "$state" = degraded ] && break; sleep 0.1; done
  systemctl --user import-environment PATH CONTAINERS_CONF CONDUCTOR_ROOT HOME
fi

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
# host.json: where Caddy's admin API and the HTTP server of the routes listen (caddy_listen;
# `system install` writes them into the caddy.json its caddy.service loads) and the gateway.
mkdir -p "$demo/etc/conductor/policies"
cp -r examples/base "$demo/etc/conductor/base"
cp -r examples/services "$demo/etc/conductor/services"
rm -rf "$demo/etc/conductor/services/hello-staging"
cat > "$demo/etc/conductor/host.json" <<JSON
{ "scope": "$scope", "caddy_admin": "127.0.0.1:$admin_port", "caddy_listen": ["127.0.0.1:$http_port"],
  "gateway_listen": "127.0.0.1:$gw_port" }
JSON
token=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
cat > "$demo/etc/conductor/policies/demo.json" <<JSON
{ "match": [ { "any": [ {
  "meta": { "peer-id": "demo-client" },
  "default_authorizations": { "function:functions-hello": true },
  "bearer": [ { "token_sha256": "$(printf %s "$token" | sha256sum | cut -d' ' -f1)" } ]
} ] } ] }
JSON
echo "demo root: $demo (scope: $scope; Caddy admin 127.0.0.1:$admin_port, HTTP 127.0.0.1:$http_port, gateway 127.0.0.1:$gw_port)"

step conductor service ls
step conductor function ls
step conductor system install --scope "$scope"
systemctl_() { if [ "$scope" = user ]; then systemctl --user "$@"; else systemctl "$@"; fi; }
systemctl_ start caddy.service
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$admin_port/config/" >/dev/null 2>&1 && break; sleep 0.1; done
systemctl_ start conductor-gateway.service
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$gw_port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
step conductor reload
step conductor deployment ls
step conductor caddy status

printf '\n\033[1m$ curl http://127.0.0.1:%s/hello/\033[0m\n' "$http_port"
for _ in $(seq 50); do out=$(curl -fsS "http://127.0.0.1:$http_port/hello/" 2>/dev/null) && break; sleep 0.2; done
echo "${out:-no answer}"
fn=http://127.0.0.1:$http_port/.conductor/functions/functions-hello/demo
printf '\n\033[1m$ curl %s   (no token)\033[0m\n' "$fn"
curl -sS -o /dev/null -w 'HTTP %{http_code}\n' "$fn"
printf '\n\033[1m$ curl -H "Authorization: Bearer $TOKEN" %s\033[0m\n' "$fn"
answer=$(curl -fsS -H "Authorization: Bearer $token" "$fn")
echo "$answer"
[ -n "${out:-}" ] && [ -n "$answer" ] || { echo "demo: something did not answer" >&2; exit 1; }
printf '\nDemo done: the pod served through Caddy, the function answered only with the token. Cleaning up.\n'
