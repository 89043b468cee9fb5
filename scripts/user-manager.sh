#!/usr/bin/env bash
# A systemd user manager in a cgroup of its own, for hosts where systemd is not PID 1 (the demo,
# the tests and the benches start one; ENVIRONMENT.md "systemd — a real one, without PID 1").
#
#   user-manager.sh run NAME       exec `systemd --user` inside the new cgroup NAME
#   user-manager.sh cleanup NAME   kill whatever is left in NAME and remove its cgroups
#
# Both find NAME from the cgroups of their caller: run cleanup from where run was started.
# Why not just run `systemd --user`: a user manager takes the cgroup it starts in as the root of
# everything it manages and moves every process it finds there into its init.scope. Started in
# the root cgroup (these VMs: PID 1 is not systemd, every process lives in /), it takes the whole
# machine: every process on it, the CI runner included, ends up in its init.scope, and out of the
# memory cgroup the job runs in. Two at once (tap runs two test files in parallel) share that
# tree, so their units of the same name (conductor-gateway.service...) share one cgroup and each
# manager's stop kills the other's processes. Started in a cgroup that holds nothing but itself,
# a manager manages that cgroup and nothing else.
#
# NAME's cgroup is created under the deepest cgroup this process is in (systemd uses one path in
# every hierarchy, so the memory cgroup a job runs in keeps the manager and its units).
set -euo pipefail

LOCK=/tmp/conductor-user-manager.lock
# Intermediate directories created for some manager (the job's memory path mirrored in the
# other hierarchies); the last cleanup that finds one empty removes it.
CREATED=/tmp/conductor-user-manager.created

usage() { echo "usage: $0 run|cleanup NAME" >&2; exit 2; }
[ $# -eq 2 ] || usage
action=$1 name=$2
case "$name" in ''|*/*|.*) echo "user-manager: NAME must be a plain name, got '$name'" >&2; exit 2 ;; esac

# One directory per cgroup hierarchy systemd manages (the cgroup2 one, name=systemd, and the v1
# controllers systemd drives), where NAME's cgroup goes. Other v1 hierarchies (cpuset, freezer...)
# are left alone: systemd does not use them, and a new v1 cpuset has no CPU to run on.
cgroup_dirs() {
  awk -v name="$name" '
    FNR == NR {                                    # /proc/self/mountinfo
      sep = 0; for (i = 1; i <= NF; i++) if ($i == "-") { sep = i; break }
      if (sep == 0) next
      fs = $(sep + 1)
      if (fs == "cgroup2") { mnt[""] = $5; root[""] = $4 }
      else if (fs == "cgroup") {
        n = split($(sep + 3), opts, ",")
        for (j = 1; j <= n; j++) { mnt[opts[j]] = $5; root[opts[j]] = $4 }
      }
      next
    }
    {                                              # /proc/self/cgroup: ID:CONTROLLERS:PATH
      split($0, f, ":"); ctl = f[2]; p = substr($0, length(f[1]) + length(f[2]) + 3)
      first = ctl; sub(/,.*/, "", first)
      if (!(first in mnt)) next
      if (ctl != "" && ctl !~ /(^|,)(name=systemd|cpu|cpuacct|blkio|memory|devices|pids)(,|$)/) next
      k++; hmnt[k] = mnt[first]; hroot[k] = root[first]; hpath[k] = p
      if (ctl == "name=systemd" || (ctl == "" && sdpath == "")) sdpath = p
    }
    END {
      # The deepest path that every other one is a prefix of; else the path of the hierarchy
      # systemd tracks processes in (name=systemd, or cgroup2 on a unified host).
      base = "/"
      for (i = 1; i <= k; i++) if (length(hpath[i]) > length(base)) base = hpath[i]
      for (i = 1; i <= k; i++) {
        q = hpath[i]
        if (!(q == "/" || q == base || index(base, q "/") == 1)) { base = ""; break }
      }
      if (base == "") base = sdpath
      if (base == "/") base = ""
      for (i = 1; i <= k; i++) {
        r = hroot[i]; rel = base
        if (r != "/" && index(rel, r) == 1) rel = substr(rel, length(r) + 1)
        print hmnt[i] rel "/" name
      }
    }
  ' /proc/self/mountinfo /proc/self/cgroup
}

# Explicit returns: errexit does not apply where these run (an `if !` condition).
with_lock() { exec 9>"$LOCK" && flock 9 || return 1; "$@"; local rc=$?; flock -u 9; return $rc; }

enter_cgroups() {
  local dir parent created
  for dir in $(cgroup_dirs); do
    # Record the ancestors this creates, so that a cleanup can remove them once empty.
    parent=$(dirname "$dir") created=
    while [ ! -d "$parent" ]; do created="$parent $created"; parent=$(dirname "$parent"); done
    mkdir -p "$dir" || return 1
    for d in $created; do echo "$d" >> "$CREATED"; done
    echo $$ > "$dir/cgroup.procs" || return 1
  done
}

remove_cgroups() {
  local dir dirs pids d
  dirs=$(cgroup_dirs)
  for _ in $(seq 50); do
    pids=$(for dir in $dirs; do [ -d "$dir" ] && find "$dir" -name cgroup.procs -exec cat {} +; done | sort -u)
    [ -z "$pids" ] && break
    kill -9 $pids 2>/dev/null || true
    sleep 0.1
  done
  for dir in $dirs; do
    [ -d "$dir" ] && find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  if [ -f "$CREATED" ]; then
    # Deepest first; a directory another manager still uses stays listed for its cleanup.
    local kept=
    for d in $(sort -ru "$CREATED"); do
      if [ -d "$d" ] && ! rmdir "$d" 2>/dev/null; then kept="$kept $d"; fi
    done
    if [ -n "$kept" ]; then printf '%s\n' $kept > "$CREATED"; else rm -f "$CREATED"; fi
  fi
}

case "$action" in
  run)
    # In a subshell: the lock's descriptor is not handed down to the manager ($$ is still
    # this shell, the one that becomes the manager).
    if ! err=$( (with_lock enter_cgroups) 2>&1); then
      echo "user-manager: could not give the manager a cgroup of its own (${err%%$'\n'*}); it will manage the cgroup it starts in" >&2
    fi
    exec /lib/systemd/systemd --user
    ;;
  cleanup) with_lock remove_cgroups ;;
  *) usage ;;
esac
