#!/usr/bin/env bash
# The project's test command (README): formatting, contract artifacts, lints, docs, all tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }

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

step "tests"
# --show-output prints what passing tests report (the differential count, gas figures).
cargo test --workspace --locked -- --show-output
