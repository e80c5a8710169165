#!/usr/bin/env bash
# Benchmarks, each side by side with its baseline in one run. Arguments go to the harness
# (e.g. `scripts/bench.sh paymaster --requests 200 --concurrency 8`).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --locked -p stark-sessions-tests --bin bench -- "$@"
