"""W6 baseline: xarray appending time steps to a dataset, as its users do.

argv: one JSON object {path, saves, rows, cols, chunkRows, budgetSeconds}. The first
save creates the dataset (`to_zarr(path, mode="w")`, consolidated, Zarr v3); each
later one is `ds.to_zarr(path, append_dim="time")`. Three float32 variables
[time, x] and the int64 time coordinate; chunks of chunkRows rows, Blosc lz4 clevel 5
with byte shuffle, as the zarr-saver side writes. Stops early once the time budget is
spent; prints one JSON line: {saves, seconds, firstSeconds}.
"""

import json
import sys
import time

import numpy as np
import xarray as xr
import zarr

job = json.loads(sys.argv[1])
rows, cols = job["rows"], job["cols"]
blosc = zarr.codecs.BloscCodec(cname="lz4", clevel=5, shuffle="shuffle")
names = ["temp", "wind", "pressure"]


def step(k):
    """Save k's rows: value k + column / 100 in every variable, time k*rows + i."""
    values = (np.float32(k) + np.arange(cols, dtype=np.float32) / 100)[None, :].repeat(rows, 0)
    t = np.arange(k * rows, (k + 1) * rows, dtype=np.int64)
    return xr.Dataset({n: (("time", "x"), values) for n in names}, coords={"time": ("time", t)})


encoding = {n: {"chunks": (job["chunkRows"], cols), "compressors": [blosc]} for n in names}
encoding["time"] = {"chunks": (job["chunkRows"],), "compressors": [blosc]}
t0 = time.perf_counter()
step(0).to_zarr(job["path"], mode="w", zarr_format=3, encoding=encoding)
first = time.perf_counter() - t0
saves = 1
while saves < job["saves"] and time.perf_counter() - t0 < job["budgetSeconds"]:
    step(saves).to_zarr(job["path"], append_dim="time")
    saves += 1
print(json.dumps({"saves": saves, "seconds": time.perf_counter() - t0, "firstSeconds": first}))
