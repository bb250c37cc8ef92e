#!/usr/bin/env bash
# The kill -9 campaign: swab is killed with SIGKILL at a random moment of an update (its
# calls slowed by a proxy so that every step gets hit), then run again; every try must end
# with the container updated, running, with its data, nothing left parked, and nothing else
# touched. See `chaos_kill_9_at_random_moments_of_an_update` in tests/e2e/update_apply.rs.
#
#   scripts/chaos.sh --tries N [--seed S]      (default 30 tries, a random seed, printed)
#   SWAB_TEST_ENGINE=20.10 scripts/chaos.sh ...
#
# Runs in its own private environment (scripts/test-env.sh). Exits non-zero on a failure,
# whose message names the try, the seed and the kill moment, with swab's log.
set -euo pipefail
cd "$(dirname "$0")/.."

tries=30 seed=
while [ $# -gt 0 ]; do
  case "$1" in
    --tries) tries=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    *) echo "usage: $0 [--tries N] [--seed S]" >&2; exit 2 ;;
  esac
done
export SWAB_CHAOS_TRIES=$tries
[ -n "$seed" ] && export SWAB_CHAOS_SEED=$seed
# Long campaigns need more than the default watchdog.
export SWAB_TEST_TIMEOUT=${SWAB_TEST_TIMEOUT:-$((600 + tries * 30))}
exec scripts/test-env.sh cargo test -p swab --all-features --test e2e -- \
  --ignored --exact update_apply::with_daemon::chaos_kill_9_at_random_moments_of_an_update --nocapture
