#!/usr/bin/env bash
# Create (once) the project venv with zarr-python 3 and numpy, for interop tests
# and benchmarks. Prints the venv's python path.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${ZARR_SAVER_VENV:-$here/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c "import zarr, numpy" 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "zarr>=3,<4" numpy >&2
fi
echo "$venv/bin/python"
