#!/usr/bin/env bash
# Print the path of a Python interpreter >= 3.12, or explain why none was found and exit 1.
# Order: $PYTHON (if set, it must qualify), python3.12, python3.13, python3.14, python3, then pyenv's
# versions, oldest qualifying first (the best-tested dependency wheels).
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

if [ -n "${PYTHON:-}" ]; then
  if ok "$PYTHON"; then command -v "$PYTHON" || echo "$PYTHON"; exit 0; fi
  echo "error: PYTHON=$PYTHON is not a Python >= 3.12 (nen-bayes needs 3.12 or newer)." >&2
  exit 1
fi
cands="python3.12 python3.13 python3.14 python3"
root="${PYENV_ROOT:-$HOME/.pyenv}"
if [ -d "$root/versions" ]; then
  cands="$cands $(ls -d "$root"/versions/3.1[2-9]*/bin/python 2>/dev/null | sort -V | tr '\n' ' ')"
fi
for c in $cands; do
  if command -v "$c" >/dev/null 2>&1 && ok "$c"; then command -v "$c"; exit 0; fi
done
echo "error: no Python >= 3.12 found (tried: $cands)." >&2
echo "Install one (e.g. 'pyenv install 3.12') or point to it: make PYTHON=/path/to/python3.12 ..." >&2
exit 1
