#!/usr/bin/env bash
# Compiles contracts/ into the Sierra artifacts that crates/abi embeds.
#   scripts/build-contracts.sh          rewrite crates/abi/artifacts/*.sierra.json
#   scripts/build-contracts.sh --check  compile into a temporary folder; fail on any byte of difference
# Installs the pinned compiler first (scripts/install-cairo.sh) if it is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ARTIFACTS="$ROOT/crates/abi/artifacts"
COMPILER="${STARK_SESSIONS_TOOLS:-$ROOT/tools}/cairo/bin/starknet-compile"
# artifact name -> contract path inside the Cairo crate
CONTRACTS=(
  "session_account:stark_sessions::session_account::SessionAccount"
  "scoreboard:stark_sessions::scoreboard::Scoreboard"
)

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

bash "$ROOT/scripts/install-cairo.sh" >/dev/null

out="$ARTIFACTS"
if (( check )); then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

status=0
for entry in "${CONTRACTS[@]}"; do
  name="${entry%%:*}"
  path="${entry#*:}"
  "$COMPILER" "$ROOT/contracts" -c "$path" "$out/$name.sierra.json"
  # Sierra that the CASM compiler rejects would only fail at declare time: check it here.
  "${COMPILER%/*}/starknet-sierra-compile" "$out/$name.sierra.json" "$out/$name.casm.json" \
    || { echo "build-contracts: $name does not compile to CASM" >&2; exit 1; }
  rm -f "$out/$name.casm.json"
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
