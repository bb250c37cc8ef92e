#!/usr/bin/env bash
# Update-check benchmark: swab updates vs cup 3.5.1, checking the same N distinct references
# (default 200) on a local registry behind a proxy that adds 50 ms to every request.
#
#   scripts/test-env.sh scripts/bench-updates.sh [--refs N] [--delay-ms D] [--rounds R]
#
# Runs inside the private test environment (its dockerd and registry). Pushes N one-tag
# repositories (bench/rNNN:1) through the proxy (without delay while seeding, so their
# RepoDigests name the proxy), then, R rounds in alternating order, times
#   swab   swab updates --rules <images: 127.0.0.1:PROXY/bench/*> --format json
#   cup    cup -s $DOCKER_HOST -c cup.json check -r REF...
# with /usr/bin/time (wall, peak RSS), and counts each tool's registry requests in the
# registry's access log (by User-Agent). cup is built once from ../shared/peers into
# /var/cache/swab-bench. Prints a Markdown table of medians; copy it into BENCHMARKS.md with
# the machine and date. Both tools must find every reference up to date, or the run fails.
set -euo pipefail
cd "$(dirname "$0")/.."

REFS=200 DELAY_MS=50 ROUNDS=3
while [ $# -gt 0 ]; do
  case $1 in
    --refs) REFS=$2; shift 2 ;;
    --delay-ms) DELAY_MS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "usage: $0 [--refs N] [--delay-ms D] [--rounds R]" >&2; exit 2 ;;
  esac
done
log() { printf 'bench-updates: %s\n' "$*" >&2; }
[ -n "${SWAB_TEST_REGISTRY:-}" ] || { log "run me under scripts/test-env.sh"; exit 2; }
[ -x /usr/bin/time ] || { log "needs /usr/bin/time (apt-get install time)"; exit 1; }

DOCKER=${SWAB_TEST_DOCKER_CLI:-docker}
export DOCKER_HOST=$SWAB_TEST_DOCKER_HOST
WORK=$(mktemp -d /tmp/swab-bench-updates.XXXXXX)
PROXY_PID=
trap '[ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null; rm -rf "$WORK"' EXIT

CUP_DIR=/var/cache/swab-bench/cup-3.5.1
if [ ! -x "$CUP_DIR/target/release/cup" ]; then
  log "building cup 3.5.1 from ../shared/peers (once)"
  mkdir -p /var/cache/swab-bench
  tar xzf ../shared/peers/cup-3.5.1.tar.gz -C /var/cache/swab-bench
  (cd "$CUP_DIR" && cargo build --release --quiet --no-default-features --features cli)
fi
CUP=$CUP_DIR/target/release/cup
log "building swab (release)"
cargo build --release --quiet -p swab
SWAB=$PWD/target/release/swab

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PROXY=127.0.0.1:$PORT
start_proxy() { # delay_ms
  [ -n "$PROXY_PID" ] && { kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true; }
  python3 bench/latency_proxy.py "$PORT" "$SWAB_TEST_REGISTRY" "$1" & PROXY_PID=$!
  for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null && return
    sleep 0.1
  done
  log "the proxy did not start"; exit 1
}

log "seeding $REFS references through the proxy (no delay)"
start_proxy 0
refs=()
for i in $(seq -f '%03g' 1 "$REFS"); do
  ref=$PROXY/bench/r$i:1
  "$DOCKER" tag "$SWAB_TEST_IMAGE" "$ref"
  refs+=("$ref")
done
printf '%s\n' "${refs[@]}" | xargs -P 8 -n 1 "$DOCKER" push -q >/dev/null
start_proxy "$DELAY_MS"

cat > "$WORK/rules.yaml" <<EOF
version: 1
rules:
  - name: bench
    action: update
    match:
      images: ["$PROXY/bench/*"]
EOF
printf '{"version": 3, "registries": {"%s": {"insecure": true}}}\n' "$PROXY" > "$WORK/cup.json"

LOG=$SWAB_TEST_DIR/registry.log
requests() { # since-line user-agent-fragment
  tail -n +"$(($1 + 1))" "$LOG" | grep '"[A-Z]* /v2/' | grep -c "$2" || true
}
measure() { # name command...
  local name=$1; shift
  local mark; mark=$(wc -l < "$LOG")
  [ -n "${BENCH_KEEP:-}" ] && cp "$WORK"/*.out "$BENCH_KEEP"/ 2>/dev/null || true
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || {
    log "$name failed:"; cat "$WORK/$name.err" >&2; exit 1; }
  sleep 0.2 # the registry writes its access lines after answering
  local n
  if [ "$name" = cup ]; then
    n=$(tail -n +"$((mark + 1))" "$LOG" | grep '"[A-Z]* /v2/' | grep -vc 'swab/' || true)
  else
    n=$(requests "$mark" swab/)
  fi
  read -r wall rss < "$WORK/time"
  printf '%s\t%s\t%s\t%s\n' "$name" "$wall" "$rss" "$n" >> "$WORK/results.tsv"
  log "$name: ${wall}s, ${rss} KiB, $n requests"
}
check_swab() {
  python3 - "$WORK/swab.out" "$REFS" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
rows = report["references"]
bad = [r for r in rows if r["status"] != "up_to_date"]
assert len(rows) == int(sys.argv[2]) and not bad, (len(rows), bad[:3])
EOF
}
check_cup() {
  [ -n "${BENCH_KEEP:-}" ] && cp "$WORK/cup.out" "$BENCH_KEEP/cup.out"
  python3 - "$WORK/cup.out" "$REFS" <<'EOF'
import json, sys
out = json.load(open(sys.argv[1]))
images = out.get("images", [])
# cup lists some references more than once; each distinct one must be there, up to date.
assert len({i["reference"] for i in images}) == int(sys.argv[2]), len(images)
bad = [i for i in images if (i.get("result") or {}).get("has_update") or (i.get("result") or {}).get("error")]
assert not bad, bad[:3]
EOF
}

: > "$WORK/results.tsv"
for round in $(seq "$ROUNDS"); do
  order=(swab cup); [ $((round % 2)) = 0 ] && order=(cup swab)
  for tool in "${order[@]}"; do
    case $tool in
      swab) measure swab "$SWAB" -H "$DOCKER_HOST" updates --rules "$WORK/rules.yaml" --format json
            check_swab ;;
      cup)  measure cup "$CUP" -s "$DOCKER_HOST" -c "$WORK/cup.json" check -r "${refs[@]}"
            check_cup ;;
    esac
  done
done

python3 - "$WORK/results.tsv" "$REFS" "$DELAY_MS" <<'EOF'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
refs, delay = int(sys.argv[2]), int(sys.argv[3])
med = {}
for tool in ("swab", "cup"):
    r = [x for x in rows if x[0] == tool]
    med[tool] = (statistics.median(float(x[1]) for x in r),
                 statistics.median(int(x[2]) for x in r) / 1024,
                 statistics.median(int(x[3]) for x in r), len(r))
print(f"{refs} distinct references, +{delay} ms per request, medians of {med['swab'][3]} runs each\n")
print("| tool | wall (s) | requests | requests/ref | peak RSS (MiB) |")
print("| --- | ---: | ---: | ---: | ---: |")
for tool, (wall, rss, req, _) in med.items():
    print(f"| {tool} | {wall:.2f} | {req:.0f} | {req / refs:.2f} | {rss:.1f} |")
s, c = med["swab"], med["cup"]
print(f"\ncup / swab: {c[0] / s[0]:.2f}x the wall time, {c[2] / max(s[2], 1):.2f}x the requests")
bound = -(-refs // 16) * delay / 1000
print(f"bound ceil({refs}/16) x {delay} ms = {bound:.2f} s; swab is {s[0] / bound:.2f}x the bound")
EOF
