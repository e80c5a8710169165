#!/usr/bin/env bash
# The project's test command (README): formatting, contract artifacts, lints, docs, all tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

# start_postgres / stop_postgres: a throw-away PostgreSQL (scripts/postgres.sh).
source scripts/postgres.sh

step "cargo fmt --check"
cargo fmt --all --check

step "contract artifacts match contracts/ (scripts/build-contracts.sh --check)"
bash scripts/build-contracts.sh --check

step "clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "slim CLI build: no devnet, no Cairo VM (--no-default-features)"
cargo clippy -p stark-sessions-cli --no-default-features --locked -- -D warnings
if cargo tree -p stark-sessions-cli --no-default-features -e normal --locked | grep -qE 'starknet-devnet|cairo-vm|blockifier'; then
  echo "the slim CLI build depends on the devnet" >&2
  exit 1
fi

step "the ABI crate is the model and encoding only: no HTTP client, no tokio"
if cargo tree -p stark-sessions-abi -e normal --locked | grep -qE 'reqwest|hyper|tokio'; then
  echo "stark-sessions-abi depends on an HTTP client or tokio" >&2
  exit 1
fi

step "the SDK's examples build (cargo build --examples)"
cargo build --workspace --examples --locked

step "rustdoc -D warnings"
RUSTDOCFLAGS="-Dwarnings" cargo doc --workspace --no-deps --locked

step "a private PostgreSQL for the tests"
start_postgres

step "starknet.js for the interop test (scripts/starknetjs.sh)"
bash scripts/starknetjs.sh

step "tests"
# --show-output prints what passing tests report (the differential count, gas figures).
cargo test --workspace --locked -- --show-output

step "the PostgreSQL tests ran"
# The store suite on PostgreSQL and the two-instance test must be among them.
ran=$(sort -u "$STARK_SESSIONS_TEST_POSTGRES_MARKER" | wc -l)
for suite in store::postgres:: instances::; do
  if ! grep -q "^$suite" "$STARK_SESSIONS_TEST_POSTGRES_MARKER"; then
    echo "no $suite test ran against PostgreSQL ($ran PostgreSQL tests ran)" >&2
    exit 1
  fi
done
echo "$ran PostgreSQL tests ran"
