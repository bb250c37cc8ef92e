#!/usr/bin/env bash
# The project's test command: every test, including those against a real (private) dockerd.
# Starts the throwaway environment with scripts/test-env.sh and runs the whole workspace with
# all features, so no daemon test is skipped. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/test-env.sh cargo test --workspace --all-features "$@"
