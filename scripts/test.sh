#!/usr/bin/env bash
# The project's test command: every test, including those against real (private) dockerds.
#
#   scripts/test.sh [CARGO_TEST_ARGS...]                e.g. scripts/test.sh -p swab-docker
#   SWAB_TEST_ENGINES="28-containerd" scripts/test.sh   only some engines (default: all below)
#
# 1. The pure tests once, with no daemon: `cargo test --workspace --all-features -- --skip with_daemon`.
#    Before them, the static release binary the image test builds its image from
#    (scripts/build-image.sh --binary-only; SWAB_TEST_RELEASE_BIN).
# 2. Every daemon and end-to-end test (each lives in a `with_daemon` module) on each engine,
#    one engine after another, each in its own environment from scripts/test-env.sh:
#    Docker 20.10 with the classic store, and Docker 28 with the containerd store.
# A test that cannot apply to an engine records why (swab_testkit::skip); those are counted
# as skipped, not passed. The last lines are the total over all runs and where the test
# artifacts (the status page's screenshots) are: SWAB_TEST_ARTIFACTS, default
# <target dir>/test-artifacts, one subdirectory a run. Exits non-zero if any run failed, after
# running every engine.
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINES=${SWAB_TEST_ENGINES:-"20.10 28-containerd"}
OUT=$(mktemp -d /tmp/swab-test-summary.XXXXXX)
ARTIFACTS=$(realpath -m "${SWAB_TEST_ARTIFACTS:-${CARGO_TARGET_DIR:-target}/test-artifacts}")
mkdir -p "$ARTIFACTS"
trap 'rm -rf "$OUT"' EXIT

# Build once, up front, so the engines' time is test time and a compile error stops here.
cargo test --workspace --all-features --no-run "$@"
# The static release binary for the image test (tests/e2e/image.rs), built once for every
# engine. SWAB_TEST_RELEASE_BIN=PATH uses a binary of your own; set but empty, it skips the
# build and the image test records itself as skipped (outside CI; in CI it fails).
if [ -z "${SWAB_TEST_RELEASE_BIN+set}" ]; then
  echo "=== static release binary for the image test"
  start=$SECONDS
  SWAB_TEST_RELEASE_BIN=$(scripts/build-image.sh --binary-only)
  echo "built $SWAB_TEST_RELEASE_BIN in $((SECONDS - start))s"
fi
export SWAB_TEST_RELEASE_BIN

declare -a SUMMARY=()
TOTAL_PASSED=0 TOTAL_FAILED=0 TOTAL_SKIPPED=0 RC=0

# tally NAME LOG SKIPFILE SECONDS RC: sums cargo's `test result:` lines of LOG.
tally() {
  local name=$1 log=$2 skipfile=$3 secs=$4 rc=$5 passed failed skipped
  passed=$({ grep -Eo '^test result: [A-Za-z]+\. [0-9]+ passed' "$log" || true; } | awk '{s+=$4} END {print s+0}')
  failed=$({ grep -Eo '^test result: .*; [0-9]+ failed' "$log" || true; } | sed -E 's/.*; ([0-9]+) failed/\1/' | awk '{s+=$1} END {print s+0}')
  skipped=0
  [ -s "$skipfile" ] && skipped=$(wc -l <"$skipfile")
  passed=$((passed - skipped))
  if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi # a crash, a watchdog or setup failure
  SUMMARY+=("$(printf '%-14s %4d passed, %d failed, %d skipped  (%ds%s)' "$name:" "$passed" "$failed" "$skipped" "$secs" "$([ "$rc" = 0 ] || echo ", exit $rc")")")
  if [ -s "$skipfile" ]; then
    while read -r line; do SUMMARY+=("    skipped: $line"); done <"$skipfile"
  fi
  TOTAL_PASSED=$((TOTAL_PASSED + passed)); TOTAL_FAILED=$((TOTAL_FAILED + failed)); TOTAL_SKIPPED=$((TOTAL_SKIPPED + skipped))
  [ "$rc" = 0 ] || RC=1
}

echo "=== pure tests (no daemon)"
start=$SECONDS
rc=0
SWAB_TEST_ARTIFACTS="$ARTIFACTS/pure" \
  cargo test --workspace --all-features --no-fail-fast "$@" -- --skip with_daemon 2>&1 | tee "$OUT/pure.log" || rc=$?
tally pure "$OUT/pure.log" /dev/null $((SECONDS - start)) "$rc"

for engine in $ENGINES; do
  echo "=== daemon and end-to-end tests on engine $engine"
  start=$SECONDS
  rc=0
  SWAB_TEST_ENGINE=$engine SWAB_TEST_SKIPPED="$OUT/skipped-$engine" SWAB_TEST_ARTIFACTS="$ARTIFACTS/$engine" \
    scripts/test-env.sh cargo test --workspace --all-features --no-fail-fast "$@" -- with_daemon 2>&1 \
    | tee "$OUT/$engine.log" || rc=$?
  tally "$engine" "$OUT/$engine.log" "$OUT/skipped-$engine" $((SECONDS - start)) "$rc"
done

echo
echo "=== summary"
printf '%s\n' "${SUMMARY[@]}"
echo "total: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
echo "test artifacts (screenshots): $ARTIFACTS"
exit "$RC"
