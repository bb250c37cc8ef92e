# Private throwaway dockerd, shared by scripts/test-env.sh, scripts/bench.sh and
# scripts/bench-footprint.sh. Source it; it defines functions only, each safe under
# `set -euo pipefail`. Everything lives below the directory given, never /var/run/docker.sock.
#
# Engines (one name selects binaries, image store and Compose; `engine_select` sets them):
#   20.10           Debian bookworm's docker.io (API 1.41), classic image store (overlay2)
#   28-containerd   Docker 28 from Debian sid (scripts/engines.lock), containerd image store
#   28-classic      the same Docker 28 with the classic store (graph drivers)
ENGINES_ALL="20.10 28-containerd 28-classic"

# Every setup call to a daemon gets this bound (seconds): a hung daemon fails the setup with
# a message instead of holding the whole run until CI's limit.
SETUP_TIMEOUT=${SWAB_TEST_SETUP_TIMEOUT:-120}

_engines_dir() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

# engine_select NAME: sets ENGINE, ENGINE_STORE (classic|containerd), ENGINE_DOCKERD,
# ENGINE_CLI, ENGINE_COMPOSE (empty without Compose) and ENGINE_PATH (the PATH dockerd and
# the CLI run with, so the daemon finds its own containerd, shim and docker-init). The sid
# packages are unpacked into SWAB_ENGINE_CACHE (default /var/cache/swab-test-engines) once.
engine_select() {
  ENGINE=$1
  case "$ENGINE" in
    20.10)
      ENGINE_STORE=classic
      ENGINE_DOCKERD=/usr/sbin/dockerd
      ENGINE_CLI=/usr/bin/docker
      ENGINE_COMPOSE=
      ENGINE_PATH=$PATH
      [ -x "$ENGINE_DOCKERD" ] && [ -x "$ENGINE_CLI" ] || { echo "engine 20.10: $ENGINE_DOCKERD or $ENGINE_CLI missing (apt-get install docker.io)" >&2; return 1; }
      ;;
    28-containerd|28-classic)
      ENGINE_STORE=${ENGINE#28-}
      local root scripts
      scripts=$(_engines_dir)
      root=$(python3 "$scripts/lib/fetch-sid-engine.py" "$scripts/engines.lock" "${SWAB_ENGINE_CACHE:-/var/cache/swab-test-engines}") || return 1
      ENGINE_DOCKERD=$root/usr/sbin/dockerd
      ENGINE_CLI=$root/usr/bin/docker
      ENGINE_COMPOSE=$root/usr/libexec/docker/cli-plugins/docker-compose
      # The unpacked tree first, for the daemon only; bookworm's runc after it (sid's needs a
      # newer libc, bookworm's works with Docker 28).
      ENGINE_PATH=$root/usr/bin:$root/usr/sbin:$PATH
      command -v runc >/dev/null || { echo "engine $ENGINE: no runc (apt-get install runc)" >&2; return 1; }
      ;;
    *)
      echo "unknown engine '$ENGINE'; one of: $ENGINES_ALL" >&2
      return 1
      ;;
  esac
  export ENGINE ENGINE_STORE ENGINE_DOCKERD ENGINE_CLI ENGINE_COMPOSE ENGINE_PATH
}

# dcli DIR ARGS...: the engine's docker CLI against the daemon of DIR, bounded by
# SETUP_TIMEOUT; on a timeout it names what is stuck (see hung_report).
dcli() {
  local dir=$1; shift
  local rc=0
  PATH=$ENGINE_PATH timeout -k 5 "$SETUP_TIMEOUT" "$ENGINE_CLI" -H "unix://$dir/docker.sock" "$@" || rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    echo "docker $* did not finish within ${SETUP_TIMEOUT}s: the daemon at $dir/docker.sock looks hung" >&2
    hung_report "$dir" >&2
  fi
  return "$rc"
}

# hung_report DIR: what a hung daemon is stuck on. Lists `runc init` processes (a container
# stuck in its setup: the hang seen on 20.10 sat in runc init / libnetwork-setkey) with the
# container each belongs to, then the containers the daemon still answers about, both bounded.
hung_report() {
  local dir=$1 p cmd parent id names
  echo "--- hung daemon report ($dir) ---"
  names=$(PATH=$ENGINE_PATH timeout 10 "$ENGINE_CLI" -H "unix://$dir/docker.sock" ps -a --no-trunc \
    --format '{{.ID}} {{.Names}} {{.Status}}' 2>/dev/null || echo "(docker ps did not answer in 10s)")
  for p in /proc/[0-9]*; do
    cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
    case "$cmd" in
      "runc init "*|*"/runc init "*)
        parent=$(awk '{print $4}' "$p/stat" 2>/dev/null)
        id=$(tr '\0' '\n' <"/proc/$parent/cmdline" 2>/dev/null | tail -n 1)
        echo "stuck in runc init: pid ${p#/proc/} (since $(ps -o etime= -p "${p#/proc/}" 2>/dev/null | tr -d ' ')), container ${id:-?} $(printf '%s\n' "$names" | grep -F "${id:-none}" | awk '{print "name " $2}')"
        ;;
    esac
  done
  echo "containers:"; printf '%s\n' "$names" | sed 's/^/  /'
  if [ -f "$dir/docker.pid" ]; then
    # dockerd writes its goroutine stacks to a file under the exec root on SIGUSR1.
    kill -USR1 "$(cat "$dir/docker.pid")" 2>/dev/null && sleep 1
    ls "$dir"/exec/goroutine-stacks-*.log 2>/dev/null | sed 's/^/dockerd stack dump: /'
  fi
  echo "---"
}

# dockerd_start DIR [EXTRA_DOCKERD_ARGS...]
# Starts the selected engine's dockerd (engine_select first; 20.10 if none was selected) with
# its data root, exec root, pidfile and socket under DIR; sets DOCKERD_PID and waits until the
# socket answers (fails with the log tail otherwise).
dockerd_start() {
  local dir=$1; shift
  [ -n "${ENGINE:-}" ] || engine_select 20.10
  mkdir -p "$dir/data" "$dir/exec"
  case "$ENGINE" in
    # Its own trust key, so its /info ID is its own: 20.10 derives the ID from the key,
    # by default the machine's /etc/docker/key.json, which every daemon here would share.
    20.10) echo "{\"deprecated-key-path\": \"$dir/key.json\"}" ;;
    *) echo "{\"features\":{\"containerd-snapshotter\":$([ "$ENGINE_STORE" = containerd ] && echo true || echo false)}}" ;;
  esac >"$dir/daemon.json"
  PATH=$ENGINE_PATH "$ENGINE_DOCKERD" --config-file "$dir/daemon.json" \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
    --host "unix://$dir/docker.sock" \
    --bridge none --iptables=false --ip-masq=false --userland-proxy=false \
    --containerd-namespace swab-test --containerd-plugins-namespace swab-test-plugins \
    "$@" >>"$dir/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 1 240); do
    PATH=$ENGINE_PATH timeout 10 "$ENGINE_CLI" -H "unix://$dir/docker.sock" version >/dev/null 2>&1 && return 0
    if ! kill -0 "$DOCKERD_PID" 2>/dev/null; then
      tail -n 30 "$dir/dockerd.log" >&2
      echo "dockerd exited" >&2
      return 1
    fi
    sleep 0.5
  done
  tail -n 30 "$dir/dockerd.log" >&2
  echo "dockerd did not come up" >&2
  return 1
}

# dockerd_stop DIR: stops the dockerd started by dockerd_start, and unmounts what it left.
dockerd_stop() {
  local dir=$1
  if [ -n "${DOCKERD_PID:-}" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
    # Containers first (quickly), so the daemon's shutdown does not wait on them.
    { PATH=$ENGINE_PATH timeout 30 "$ENGINE_CLI" -H "unix://$dir/docker.sock" ps -q 2>/dev/null \
      | xargs -r timeout 30 "$ENGINE_CLI" -H "unix://$dir/docker.sock" kill >/dev/null 2>&1; } || true
    kill "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 1 120); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$DOCKERD_PID" 2>/dev/null || true
  fi
  DOCKERD_PID=
  # Shims and a managed containerd outlive a killed dockerd; they are ours if their command
  # line names DIR.
  pkill -9 -f "containerd.*$dir" 2>/dev/null || true
  # Safe under `set -euo pipefail`: every step here may find nothing to do.
  { grep -o " $dir[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  return 0
}

# make_busybox_rootfs DIR: builds a tiny rootfs from the static busybox and writes
# DIR/rootfs.tar, to `docker import` as a test image without any registry.
make_busybox_rootfs() {
  local dir=$1 rootfs=$1/rootfs
  mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/data" "$rootfs/etc"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in sh sleep echo cat true false ls touch test env printf wget nc id; do
    ln -sf busybox "$rootfs/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
  echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >> "$rootfs/etc/passwd"
  tar -C "$rootfs" -cf "$dir/rootfs.tar" .
}
