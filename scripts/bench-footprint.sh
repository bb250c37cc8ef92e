#!/usr/bin/env bash
# Footprint of an idle `swab daemon`: 20 scheduled rules on a host with 1,000 containers.
# Measures RSS and the CPU time the daemon uses over 60 idle seconds (from /proc), and the
# size of the stripped release binary.
#
#   scripts/bench-footprint.sh [--containers N] [--seconds S]     (defaults 1000, 60)
#
# Needs root (starts a private dockerd; never touches /var/run/docker.sock).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/dockerd.sh
CONTAINERS=1000 SECONDS_IDLE=60
while [ $# -gt 0 ]; do
  case $1 in
    --containers) CONTAINERS=$2; shift 2 ;;
    --seconds) SECONDS_IDLE=$2; shift 2 ;;
    *) echo "usage: $0 [--containers N] [--seconds S]" >&2; exit 2 ;;
  esac
done
log() { printf 'footprint: %s\n' "$*" >&2; }
DIR=$(mktemp -d /tmp/swab-footprint.XXXXXX)
D="$DIR/daemon"
mkdir -p "$D"
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; dockerd_stop "$D"; rm -rf "$DIR"' EXIT
export DOCKER_HOST="unix://$D/docker.sock"

cargo build --release --quiet -p swab
SWAB=$PWD/target/release/swab
python3 -m venv "$DIR/venv"
"$DIR/venv/bin/pip" install --quiet docker==7.1.0
make_busybox_rootfs "$DIR"
dockerd_start "$D"
log "seeding $CONTAINERS containers"
"$DIR/venv/bin/python" bench/seed.py "$DOCKER_HOST" "$DIR/rootfs.tar" "$CONTAINERS" 0 created

# 20 rules, each scheduled once a day at a different minute of 04:xx (UTC): none fires
# during the measurement unless it happens to run at 04:00-04:20 UTC.
{
  echo "version: 1"
  echo "rules:"
  for i in $(seq 0 19); do
    printf '  - name: rule-%s\n    action: prune-containers\n    schedule: "%s 4 * * *"\n    match:\n      names: ["never-%s-*"]\n' "$i" "$i" "$i"
  done
} > "$DIR/rules.yaml"
"$SWAB" daemon --rules "$DIR/rules.yaml" --state "$DIR/state.json" 2>"$DIR/daemon.log" &
PID=$!
sleep 5   # start-up: version negotiation, event subscription, container list
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
sleep "$SECONDS_IDLE"
t1=$(ticks)
rss=$(awk '/VmRSS/{print $2}' "/proc/$PID/status")
hwm=$(awk '/VmHWM/{print $2}' "/proc/$PID/status")
cpu_ms=$(( (t1 - t0) * 1000 / hz ))
size=$(stat -c %s "$SWAB")
echo "containers on the host: $(docker ps -aq | wc -l)"
echo "idle CPU time over ${SECONDS_IDLE}s: ${cpu_ms} ms (clock ticks of ${hz} Hz: $((t1 - t0)))"
echo "RSS: $((rss / 1024)).$(( (rss % 1024) * 10 / 1024 )) MB (peak $((hwm / 1024)).$(( (hwm % 1024) * 10 / 1024 )) MB)"
echo "release binary (stripped): $((size / 1024 / 1024)).$(( (size / 1024 % 1024) * 10 / 1024 )) MB ($size bytes)"
if grep -q " ERROR\| WARN" "$DIR/daemon.log"; then
  log "the daemon logged warnings or errors:"; grep " ERROR\| WARN" "$DIR/daemon.log" >&2
fi
