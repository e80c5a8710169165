#!/usr/bin/env bash
# Compiles contracts/ into the Sierra artifacts that crates/abi embeds, with the repository's own
# compiler program (crates/compiler: cairo-lang-starknet 2.19.4, the sequencer's compiler).
#   scripts/build-contracts.sh          rewrite crates/abi/artifacts/*.sierra.json
#   scripts/build-contracts.sh --check  compile into a temporary folder; fail on any byte of difference
# The corelib of the same tag is found as crates/compiler/README.md says (CAIRO_CORELIB_DIR,
# ../shared/cairo/corelib, or the tag's source archive, each checked against its fingerprint).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ARTIFACTS="$ROOT/crates/abi/artifacts"
# artifact name = contract path inside the Cairo crate
CONTRACTS=(
  "session_account=stark_sessions::session_account::SessionAccount"
  "scoreboard=stark_sessions::scoreboard::Scoreboard"
  "floor_account=stark_sessions::floor_account::FloorAccount"
  "router=stark_sessions::router::Router"
)

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

out="$ARTIFACTS"
if (( check )); then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

# Built with the workspace's features (--workspace), so that its cairo-lang dependencies are the
# same artifacts the devnet and the tests use, not a second build of them.
cargo build --quiet --locked --workspace --bin stark-sessions-compile
target_dir=$(cargo metadata --no-deps --format-version 1 --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
"$target_dir/debug/stark-sessions-compile" "$ROOT/contracts" "$out" "${CONTRACTS[@]}"

status=0
for entry in "${CONTRACTS[@]}"; do
  name="${entry%%=*}"
  if (( check )); then
    if cmp -s "$out/$name.sierra.json" "$ARTIFACTS/$name.sierra.json"; then
      echo "build-contracts: $name.sierra.json is up to date"
    else
      echo "build-contracts: $name.sierra.json differs from contracts/ — run scripts/build-contracts.sh" >&2
      status=1
    fi
  else
    echo "build-contracts: wrote crates/abi/artifacts/$name.sierra.json"
  fi
done
exit "$status"
