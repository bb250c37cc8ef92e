#!/usr/bin/env bash
# Whole-system benchmark: cleaning the same seeded Docker host with
#   swab       swab run with bench/rules.yaml (every exited container, every unused image)
#   dcgc       docker-custodian 0.7.4 from PyPI: dcgc --max-container-age 0s --max-image-age 0s
#   prune      the daemon's own endpoints: docker container prune -f; docker image prune -af
#   cli-loop   a plain docker CLI loop: docker rm / docker rmi, one process per object
#
#   scripts/bench.sh [--containers N] [--images M] [--rounds R]     (defaults 2000, 500, 3)
#
# State is seeded once on a private dockerd (N exited containers of a base image, M unused
# images), the stopped daemon's data root is copied, and before every measurement the copy
# is restored and the daemon restarted: every tool cleans byte-identical state. The order
# of the tools rotates each round. Wall time and peak RSS come from /usr/bin/time; swab's
# API calls from its own request counter (the `run finished api_calls=N` log line).
# Results: a TSV and a Markdown summary (medians, ratios to swab) in the printed directory;
# copy the summary into BENCHMARKS.md with the machine and date.
#
# Needs root on Debian (installs docker.io, busybox-static, time, python3-venv if missing)
# and PyPI access for docker-custodian. Never touches /var/run/docker.sock.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/dockerd.sh

CONTAINERS=2000 IMAGES=500 ROUNDS=3
while [ $# -gt 0 ]; do
  case $1 in
    --containers) CONTAINERS=$2; shift 2 ;;
    --images) IMAGES=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "usage: $0 [--containers N] [--images M] [--rounds R]" >&2; exit 2 ;;
  esac
done
log() { printf 'bench: %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || { log "must run as root (it starts dockerd)"; exit 1; }

need=()
command -v dockerd >/dev/null || need+=(docker.io)
[ -x /bin/busybox ] || need+=(busybox-static)
[ -x /usr/bin/time ] || need+=(time)
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -q >/dev/null 2>&1
  DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1
fi

DIR=$(mktemp -d /tmp/swab-bench.XXXXXX)
D="$DIR/daemon"
OUT="$DIR/results"
mkdir -p "$D" "$OUT"
trap 'dockerd_stop "$D"; rm -rf "$D" "$DIR/seed" "$DIR/venv"' EXIT
export DOCKER_HOST="unix://$D/docker.sock"

log "building swab (release)"
cargo build --release --quiet -p swab
SWAB=$PWD/target/release/swab
log "installing docker-custodian into a venv"
python3 -m venv "$DIR/venv"
"$DIR/venv/bin/pip" install --quiet docker-custodian==0.7.4
DCGC=$DIR/venv/bin/dcgc

log "seeding $CONTAINERS exited containers and $IMAGES unused images"
make_busybox_rootfs "$DIR"
dockerd_start "$D"
seed_start=$(date +%s)
"$DIR/venv/bin/python" bench/seed.py "$DOCKER_HOST" "$DIR/rootfs.tar" "$CONTAINERS" "$IMAGES"
log "seeded in $(( $(date +%s) - seed_start ))s"
dockerd_stop "$D"
cp -a "$D/data" "$DIR/seed"

restore() {
  dockerd_stop "$D"
  rm -rf "$D/data" "$D/exec"
  cp -a "$DIR/seed" "$D/data"
  dockerd_start "$D"
  local c i
  c=$(docker ps -aq | wc -l)
  i=$(docker images -q | wc -l)
  if [ "$c" != "$CONTAINERS" ] || [ "$i" != "$((IMAGES + 1))" ]; then
    log "restored state is wrong: $c containers, $i images"; exit 1
  fi
}

tool_cmd() {
  case $1 in
    swab) echo "rm -f '$DIR/state.json'; '$SWAB' -v run --rules bench/rules.yaml --state '$DIR/state.json' --format json > '$OUT/swab-report.json'" ;;
    dcgc) echo "'$DCGC' --max-container-age 0s --max-image-age 0s" ;;
    prune) echo "docker container prune -f && docker image prune -af" ;;
    cli-loop) echo "for c in \$(docker ps -aq --filter status=exited); do docker rm \$c; done; for i in \$(docker images -q | sort -u); do docker rmi \$i || true; done" ;;
  esac
}

TOOLS=(swab dcgc prune cli-loop)
printf 'round\ttool\twall_s\tpeak_rss_kb\tcontainers_left\timages_left\tswab_api_calls\n' > "$OUT/results.tsv"
for round in $(seq 1 "$ROUNDS"); do
  # Rotate the order so no tool always runs first (or last) after a restore.
  shift_by=$(( (round - 1) % ${#TOOLS[@]} ))
  order=("${TOOLS[@]:$shift_by}" "${TOOLS[@]:0:$shift_by}")
  for tool in "${order[@]}"; do
    restore
    log "round $round: $tool"
    /usr/bin/time -f '%e %M' -o "$OUT/time.txt" bash -c "$(tool_cmd "$tool")" >"$OUT/$tool-$round.log" 2>&1 \
      || log "$tool exited non-zero (see $OUT/$tool-$round.log)"
    read -r wall rss < <(tail -n 1 "$OUT/time.txt")
    left_c=$(docker ps -aq | wc -l)
    left_i=$(docker images -q | wc -l)
    calls=-
    if [ "$tool" = swab ]; then
      calls=$(grep -o 'api_calls=[0-9]*' "$OUT/$tool-$round.log" | tail -n 1 | cut -d= -f2)
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$tool" "$wall" "$rss" "$left_c" "$left_i" "$calls" >> "$OUT/results.tsv"
  done
done
dockerd_stop "$D"

python3 - "$OUT/results.tsv" "$CONTAINERS" "$IMAGES" "$ROUNDS" > "$OUT/summary.md" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
containers, images, rounds = sys.argv[2:5]
tools = ["swab", "dcgc", "prune", "cli-loop"]
label = {"swab": "swab run", "dcgc": "docker-custodian (dcgc)", "prune": "daemon prune endpoints", "cli-loop": "docker CLI loop"}
med = {t: statistics.median(float(r["wall_s"]) for r in rows if r["tool"] == t) for t in tools}
print(f"{containers} exited containers + {images} unused images (+ their base image), {rounds} rounds, medians.\n")
print("| tool | wall time (median) | all rounds | x swab's time | peak RSS (median) | left behind (containers/images) |")
print("| --- | --- | --- | --- | --- | --- |")
for t in tools:
    rs = [r for r in rows if r["tool"] == t]
    walls = ", ".join(f'{float(r["wall_s"]):.2f}' for r in rs)
    rss = statistics.median(int(r["peak_rss_kb"]) for r in rs) / 1024
    left = ", ".join(sorted({f'{r["containers_left"]}/{r["images_left"]}' for r in rs}))
    print(f"| {label[t]} | {med[t]:.2f} s | {walls} | {med[t] / med['swab']:.2f} | {rss:.1f} MB | {left} |")
calls = sorted({r["swab_api_calls"] for r in rows if r["tool"] == "swab"})
print(f"\nswab API calls per run: {', '.join(calls)}")
PY
cat "$OUT/summary.md"
log "results in $OUT"
