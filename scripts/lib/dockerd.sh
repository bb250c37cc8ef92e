# Private throwaway dockerd, shared by scripts/test-env.sh and scripts/bench.sh.
# Source it; it defines functions only, each safe under `set -euo pipefail`. Everything lives below the directory given, never
# /var/run/docker.sock.

# dockerd_start DIR [EXTRA_DOCKERD_ARGS...]
# Starts dockerd with its data root, exec root, pidfile and socket under DIR; sets
# DOCKERD_PID and waits until the socket answers (fails with the log tail otherwise).
dockerd_start() {
  local dir=$1; shift
  mkdir -p "$dir/data" "$dir/exec"
  dockerd \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/docker.pid" \
    --host "unix://$dir/docker.sock" \
    --bridge none --iptables=false --ip-masq=false --userland-proxy=false \
    --containerd-namespace swab-test --containerd-plugins-namespace swab-test-plugins \
    "$@" >>"$dir/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  local cli
  cli=$(command -v docker)
  for _ in $(seq 1 240); do
    "$cli" -H "unix://$dir/docker.sock" version >/dev/null 2>&1 && return 0
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
    local cli
    cli=$(command -v docker)
    # Containers first (quickly), so the daemon's shutdown does not wait on them.
    { "$cli" -H "unix://$dir/docker.sock" ps -q 2>/dev/null \
      | xargs -r "$cli" -H "unix://$dir/docker.sock" kill >/dev/null 2>&1; } || true
    kill "$DOCKERD_PID" 2>/dev/null || true
    for _ in $(seq 1 120); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$DOCKERD_PID" 2>/dev/null || true
  fi
  DOCKERD_PID=
  # Safe under `set -euo pipefail`: every step here may find nothing to do.
  { grep -o " $dir[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  pkill -f "containerd.*$dir" 2>/dev/null || true
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
