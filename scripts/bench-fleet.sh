#!/usr/bin/env bash
# Fleet benchmark: 4 private dockerds with N exited containers each, cleaned by
#   fleet       one `swab run` over a rule file with a `hosts:` section of the 4 daemons
#   sequential  four `swab -H ... run`, one daemon after the other (what a cron loop does)
#
#   scripts/bench-fleet.sh [--daemons D] [--containers N] [--rounds R] [--engine E]
#                          [--latency MS]     (defaults 4, 300, 3, 20.10, 0)
#
# --latency MS reaches every daemon over TCP through bench/latency_proxy.py, which holds each
# request MS before passing it on: hosts across a network, as a fleet's are. Both ways go
# through the same proxies.
#
# The issue's target: the fleet run's wall time at most 1.5x the slowest single host's.
# State is seeded once on one daemon, its stopped data root copied to every daemon's (each
# then gets its own daemon ID: the engine-id file is dropped, and 20.10's trust key is per
# daemon), and restored before every measurement, so both ways clean byte-identical state.
# The order of the two ways alternates each round. Wall times come from /usr/bin/time.
# Results: a TSV and a Markdown summary (medians, ratios) in the printed directory; copy the
# summary into BENCHMARKS.md with the machine and date.
#
# Needs root on Debian (installs docker.io, busybox-static, time if missing). No network.
# Never touches /var/run/docker.sock.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/dockerd.sh

DAEMONS=4 CONTAINERS=300 ROUNDS=3 ENGINE_NAME=20.10 LATENCY=0
while [ $# -gt 0 ]; do
  case $1 in
    --daemons) DAEMONS=$2; shift 2 ;;
    --containers) CONTAINERS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --engine) ENGINE_NAME=$2; shift 2 ;;
    --latency) LATENCY=$2; shift 2 ;;
    *) echo "usage: $0 [--daemons D] [--containers N] [--rounds R] [--engine E] [--latency MS]" >&2; exit 2 ;;
  esac
done
log() { printf 'bench-fleet: %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { log "must run as root (it starts dockerd)"; exit 1; }

need=()
[ "$ENGINE_NAME" != 20.10 ] || command -v dockerd >/dev/null || need+=(docker.io)
[ -x /bin/busybox ] || need+=(busybox-static)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -q >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1
fi
engine_select "$ENGINE_NAME"

DIR=$(mktemp -d /tmp/swab-bench-fleet.XXXXXX)
OUT="$DIR/results"
mkdir -p "$OUT"
declare -A PIDS=() PORTS=() PROXIES=()
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start() {
  if [ "$LATENCY" != 0 ] && [ -n "${PORTS[$1]:-}" ]; then
    dockerd_start "$DIR/d$1" --host "tcp://127.0.0.1:${PORTS[$1]}"
  else
    dockerd_start "$DIR/d$1"
  fi
  PIDS[$1]=$DOCKERD_PID
}
stop() { DOCKERD_PID=${PIDS[$1]:-}; dockerd_stop "$DIR/d$1"; PIDS[$1]=; }
stop_all() { for n in $(seq 1 "$DAEMONS"); do stop "$n"; done; for p in "${PROXIES[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap 'stop_all; rm -rf "$DIR/seed" "$DIR"/d*' EXIT
dk() { local n=$1; shift; PATH=$ENGINE_PATH "$ENGINE_CLI" -H "unix://$DIR/d$n/docker.sock" "$@"; }

log "building swab (release)"
cargo build --release --quiet -p swab
SWAB=$PWD/target/release/swab

log "seeding $CONTAINERS exited containers (engine $ENGINE_NAME)"
make_busybox_rootfs "$DIR"
start 1
dk 1 import -c 'CMD ["/bin/true"]' "$DIR/rootfs.tar" bench/base:latest >/dev/null
seed_start=$(date +%s)
for i in $(seq 1 "$CONTAINERS"); do
  dk 1 create --network none --name "bench-$i" bench/base:latest >/dev/null
done
# Started in batches of 50 (one CLI call each); `true` exits at once.
dk 1 ps -aq --filter status=created | xargs -n 50 "$ENGINE_CLI" -H "unix://$DIR/d1/docker.sock" start >/dev/null
log "seeded in $(( $(date +%s) - seed_start ))s"
stop 1
cp -a "$DIR/d1/data" "$DIR/seed"
# Each copy makes its own ID at start (Docker 23+ keeps it in the data root).
rm -f "$DIR/seed/engine-id"

restore_all() {
  local n c
  for n in $(seq 1 "$DAEMONS"); do
    stop "$n"
    rm -rf "$DIR/d$n/data" "$DIR/d$n/exec"
    mkdir -p "$DIR/d$n"
    cp -a "$DIR/seed" "$DIR/d$n/data"
    start "$n"
    c=$(dk "$n" ps -aq --filter status=exited | wc -l)
    [ "$c" = "$CONTAINERS" ] || { log "daemon $n restored with $c exited containers"; exit 1; }
  done
}

# Where each daemon is reached: its socket, or (with --latency) a delaying proxy in front of
# a plain-TCP listener on loopback.
declare -A URLS=()
for n in $(seq 1 "$DAEMONS"); do
  if [ "$LATENCY" != 0 ]; then
    PORTS[$n]=$(free_port)
    front=$(free_port)
    python3 bench/latency_proxy.py "$front" "127.0.0.1:${PORTS[$n]}" "$LATENCY" & PROXIES[$n]=$!
    URLS[$n]="tcp://127.0.0.1:$front"
  else
    URLS[$n]="unix://$DIR/d$n/docker.sock"
  fi
done

RULES="$DIR/rules.yaml"
{
  echo "version: 1"
  echo "rules:"
  echo "  - name: stopped-containers"
  echo "    action: prune-containers"
  echo "    match: {older_than: 0s}"
  echo "hosts:"
  for n in $(seq 1 "$DAEMONS"); do
    echo "  - {name: d$n, endpoint: \"${URLS[$n]}\"}"
  done
} > "$RULES"
SINGLE="$DIR/single.yaml"
sed '/^hosts:/,$d' "$RULES" > "$SINGLE"

# Jiffies the whole machine spent busy and in all, from /proc/stat.
cpu_now() { awk '/^cpu /{busy=$2+$3+$4+$7+$8+$9; print busy, busy+$5+$6}' /proc/stat; }
timed() { # timed LABEL CMD...: wall seconds of CMD on stdout; its busy CPUs go to $OUT/cpu-LABEL
  local label=$1; shift
  local b0 t0 b1 t1
  read -r b0 t0 < <(cpu_now)
  /usr/bin/time -f '%e' -o "$OUT/time.txt" "$@" >"$OUT/$label.log" 2>&1 || log "$label exited non-zero (see $OUT/$label.log)"
  read -r b1 t1 < <(cpu_now)
  python3 -c "print(round(($b1 - $b0) / max($t1 - $t0, 1) * $(nproc), 2))" > "$OUT/cpu-$label"
  tail -n 1 "$OUT/time.txt"
}

run_fleet() {
  rm -rf "$DIR/state-fleet"; mkdir -p "$DIR/state-fleet"
  timed "fleet-$1" "$SWAB" run --rules "$RULES" --state "$DIR/state-fleet/state.json" --format json
}
run_one() {
  rm -rf "$DIR/state-$2"; mkdir -p "$DIR/state-$2"
  SWAB_LOCK="$DIR/state-$2/swab.lock" timed "single-$1-d$2" "$SWAB" -H "${URLS[$2]}" run \
    --rules "$SINGLE" --state "$DIR/state-$2/state.json" --format json
}
left() { local n total=0; for n in $(seq 1 "$DAEMONS"); do total=$(( total + $(dk "$n" ps -aq | wc -l) )); done; echo "$total"; }

printf 'round\tway\twall_s\tslowest_single_s\tbusy_cpus\tcontainers_left\n' > "$OUT/results.tsv"
for round in $(seq 1 "$ROUNDS"); do
  if [ $(( round % 2 )) = 1 ]; then order=(fleet sequential); else order=(sequential fleet); fi
  for way in "${order[@]}"; do
    restore_all
    log "round $round: $way"
    if [ "$way" = fleet ]; then
      wall=$(run_fleet "$round")
      slowest=-
      busy=$(cat "$OUT/cpu-fleet-$round")
    else
      wall=0 slowest=0 busy=0
      for n in $(seq 1 "$DAEMONS"); do
        t=$(run_one "$round" "$n")
        wall=$(python3 -c "print(round($wall + $t, 2))")
        slowest=$(python3 -c "print(max($slowest, $t))")
        # Busy CPUs over the sequential runs: the time-weighted mean of each run's.
        busy=$(python3 -c "print($busy + $t * $(cat "$OUT/cpu-single-$round-d$n"))")
      done
      busy=$(python3 -c "print(round($busy / $wall, 2))")
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$way" "$wall" "$slowest" "$busy" "$(left)" >> "$OUT/results.tsv"
  done
done

python3 - "$OUT/results.tsv" "$DAEMONS" "$CONTAINERS" "$ROUNDS" "$ENGINE_NAME" "$LATENCY" > "$OUT/summary.md" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
daemons, containers, rounds, engine, latency = sys.argv[2:7]
fleet = [float(r["wall_s"]) for r in rows if r["way"] == "fleet"]
seq = [float(r["wall_s"]) for r in rows if r["way"] == "sequential"]
slowest = [float(r["slowest_single_s"]) for r in rows if r["way"] == "sequential"]
mf, ms, msl = statistics.median(fleet), statistics.median(seq), statistics.median(slowest)
left = sorted({r["containers_left"] for r in rows})
busy = {w: statistics.median(float(r["busy_cpus"]) for r in rows if r["way"] == w) for w in ("fleet", "sequential")}
reach = f"over TCP with {latency} ms added to each request" if latency != "0" else "over their unix sockets"
print(f"{daemons} private dockerds ({engine}) x {containers} exited containers, reached {reach}, {rounds} rounds, medians.\n")
print("| way | wall time (median) | all rounds | x slowest single host | x fleet |")
print("| --- | --- | --- | --- | --- |")
print(f"| one `swab run` over `hosts:` | {mf:.2f} s | {', '.join(f'{x:.2f}' for x in fleet)} | {mf / msl:.2f} | 1.00 |")
print(f"| {daemons} sequential `swab run` | {ms:.2f} s | {', '.join(f'{x:.2f}' for x in seq)} | {ms / msl:.2f} | {ms / mf:.2f} |")
print(f"| slowest single host (of the sequential runs) | {msl:.2f} s | {', '.join(f'{x:.2f}' for x in slowest)} | 1.00 | {msl / mf:.2f} |")
print(f"\nbusy CPUs while it ran (whole machine, median; it has {__import__('os').cpu_count()}): fleet {busy['fleet']}, sequential {busy['sequential']}")
print(f"containers left after each run: {', '.join(left)}")
PY
cat "$OUT/summary.md"
log "results in $OUT"
