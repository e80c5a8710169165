#!/usr/bin/env bash
# Installs the pinned Cairo compiler (starknet-compile 2.1.0, from the PyPI sdist cairo-lang==0.12.3,
# the only release reachable here with a complete corelib) into tools/cairo, checking checksums.
# Safe to run twice: an intact install is left as it is.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${STARK_SESSIONS_TOOLS:-$ROOT/tools}/cairo"
ZIP_SHA256="651abdaa5f911d1d8f5605749e3540e7fc4efb7fb625925e5a499c4ca04fcc85"
BIN_SHA256="1cd9a054a068aa6a4152280888c2e54fce8541671fde6dea6a17caf96f320e9f"
INNER="cairo-lang-0.12.3/starkware/starknet/compiler/v1/sierra-compiler-major-1"
COMPILER="$DEST/bin/starknet-compile"

if [[ -x "$COMPILER" ]] && echo "$BIN_SHA256  $COMPILER" | sha256sum -c --status; then
  echo "install-cairo: starknet-compile 2.1.0 already installed at $COMPILER"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --no-binary :all: cairo-lang==0.12.3 -d "$work" \
  || python3 -m pip download --quiet --no-deps cairo-lang==0.12.3 -d "$work"
zip="$work/cairo-lang-0.12.3.zip"
echo "$ZIP_SHA256  $zip" | sha256sum -c --status || { echo "install-cairo: sha256 mismatch for $zip" >&2; exit 1; }

python3 - "$zip" "$INNER" "$work/x" <<'PY'
import sys, zipfile
zip_path, inner, out = sys.argv[1:]
with zipfile.ZipFile(zip_path) as z:
    for name in z.namelist():
        if name.startswith(inner + "/"):
            z.extract(name, out)
PY
chmod +x "$work/x/$INNER/bin/"*
echo "$BIN_SHA256  $work/x/$INNER/bin/starknet-compile" | sha256sum -c --status \
  || { echo "install-cairo: sha256 mismatch for starknet-compile" >&2; exit 1; }

rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
mv "$work/x/$INNER" "$DEST"
echo "install-cairo: installed starknet-compile $("$COMPILER" --version 2>/dev/null | awk '{print $2}') at $COMPILER"
