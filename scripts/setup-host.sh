#!/usr/bin/env bash
# Installs what Conductor's demo and tests need on a fresh Debian 12 machine. Idempotent and
# quick when everything is already there. Run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

# A /run/systemd/system left by an interrupted test makes Debian's package scripts believe
# systemd is PID 1 and call systemctl, which then fails: remove a stale one (ENVIRONMENT.md).
if [ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null)" != systemd ]; then
  rm -rf /run/systemd/system
fi

packages=(caddy podman runc busybox-static systemd lighttpd wrk hyperfine nats-server iproute2 gcc libc6-dev)
command -v node >/dev/null || { echo "setup: Node.js 20 is required (apt-get install nodejs npm, or NodeSource)" >&2; exit 1; }
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The Debian caddy package starts caddy.service where systemd runs; tests start their own.

# A local busybox image: no registry is reachable here (ENVIRONMENT.md).
export CONTAINERS_CONF="$PWD/test/fixtures/containers.conf"
if ! podman image exists localhost/busybox:latest 2>/dev/null; then
  echo "setup: building localhost/busybox:latest from busybox-static" >&2
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/www"
  cp /bin/busybox "$rootfs/bin/"
  for a in sh httpd echo cat env sleep ls mkdir printf wget nc true false kill ps; do ln -s busybox "$rootfs/bin/$a"; done
  tar -C "$rootfs" -c . | podman import --change 'ENV=PATH=/bin' - localhost/busybox:latest >/dev/null
  rm -rf "$rootfs"
fi

# Caddy 2.6 opens a new listening socket (SO_REUSEPORT) on every config change and closes the
# old one; connections still in the old socket's accept queue are reset unless the kernel
# migrates them to the new socket (Linux >= 5.14). Without it ~1 request in 1000 got a reset at
# a deploy's route switch (BENCHMARKS.md "Deploys"). Production hosts: README "Zero-downtime deploys".
migrate=/proc/sys/net/ipv4/tcp_migrate_req
if [ -w "$migrate" ] && [ "$(cat "$migrate")" != 1 ]; then
  echo "setup: net.ipv4.tcp_migrate_req=1 (Caddy reloads without connection resets)" >&2
  echo 1 > "$migrate"
fi
