#!/usr/bin/env bash
# Installs starknet.js for the interop tests (tests/tests/it/interop.rs) into
# tests/interop/node_modules, exactly as tests/interop/package-lock.json pins it (`npm ci`).
# Idempotent: skips the install when node_modules was installed from the current lock.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../tests/interop"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "scripts/starknetjs.sh: '$tool' not found; the interop tests need Node.js and npm" >&2
    exit 1
  fi
done

stamp=node_modules/.package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f "$stamp" && -f node_modules/starknet/package.json && "$(cat "$stamp")" == "$want" ]]; then
  echo "starknet.js already installed from this package-lock.json"
  exit 0
fi

# starknet.js 8 declares node >= 22 but runs on Node 20 (the interop tests prove the hashing);
# --loglevel=error keeps that engine warning out of the test log.
npm ci --loglevel=error --no-audit --no-fund
printf '%s\n' "$want" >"$stamp"
echo "starknet.js $(node -p 'require("./node_modules/starknet/package.json").version') installed"
