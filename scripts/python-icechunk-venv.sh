#!/usr/bin/env bash
# Create (once) the second venv the Icechunk tests and benchmarks use: Python
# icechunk 2.x needs Python >= 3.12 (the project venv's Python may be older), with
# zarr-python 3 and numpy. Prints the venv's python path.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${ZARR_SAVER_ICECHUNK_VENV:-$here/.venv-icechunk}"
if [ ! -x "$venv/bin/python" ]; then
  python=""
  for candidate in python3.13 python3.12 python3; do
    if command -v "$candidate" >/dev/null &&
      PYENV_VERSION="${PYENV_VERSION:-3.12.1}" "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      python="$candidate"
      break
    fi
  done
  if [ -z "$python" ]; then
    echo "python-icechunk-venv: no Python >= 3.12 found (icechunk 2 needs it)" >&2
    exit 1
  fi
  PYENV_VERSION="${PYENV_VERSION:-3.12.1}" "$python" -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c "import icechunk, zarr, numpy; assert icechunk.__version__.startswith('2.')" 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "icechunk>=2.3,<3" "zarr>=3,<4" numpy >&2
fi
echo "$venv/bin/python"
