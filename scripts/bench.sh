#!/usr/bin/env bash
# Benchmarks, each side by side with its baseline in one run; prints the report and writes
# target/bench/report.md and target/bench/report.json.
#   scripts/bench.sh                 # everything (several minutes)
#   scripts/bench.sh paymaster --requests 100
#   scripts/bench.sh instances     # one paymaster instance against two on one PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/.."
# --workspace: the same features (and so the same dependency artifacts) as the test command.
cargo build --quiet --locked --workspace --bins
target_dir=$(cargo metadata --no-deps --format-version 1 --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# The instances benchmark (part of "all") runs paymasters on a private PostgreSQL.
case "${1:-all}" in
  all|instances|--*)
    step() { printf '\n==> %s\n' "$*" >&2; }
    source scripts/postgres.sh
    start_postgres >&2
    ;;
esac
"$target_dir/debug/bench" "$@" --demo-bin "$target_dir/debug/stark-sessions"
