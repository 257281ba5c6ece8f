"""Python icechunk + zarr-python 3, the contender of `npm run bench:icechunk`.

    python bench/baselines/icechunk_python_bench.py '<job JSON>'

One job: `bulk` (one save of the whole data into a new array) or `append` (`saves`
saves of `rowsPerSave` rows, each its own commit). Every save opens a writable session
on `main`, writes with zarr-python (same chunks and codecs as zarr-saver), and commits,
as a stateless saver must. Timed in-process (interpreter start-up and imports
excluded); prints one JSON line: {"seconds": ...}.
"""

import json
import os
import sys
import time

import icechunk
import numpy as np
import zarr
from zarr.registry import get_codec_class


def main():
    job = json.loads(sys.argv[1])
    cols = job["cols"]
    total = job["rows"] if job["kind"] == "bulk" else job["saves"] * job["rowsPerSave"]
    data = np.fromfile(job["dataFile"], dtype="<f8", count=total * cols).reshape(total, cols)
    codec = job["codec"]
    compressors = [get_codec_class(codec["name"]).from_dict(codec)] if codec else None
    storage = icechunk.local_filesystem_storage(job["repo"])

    def save(batch, first):
        repo = icechunk.Repository.open_or_create(storage)
        session = repo.writable_session("main")
        if first:
            root = zarr.group(session.store)
            a = root.create_array("data", shape=batch.shape, chunks=tuple(job["chunks"]),
                                  dtype="float64", compressors=compressors)
            a[...] = batch
        else:
            a = zarr.open_array(session.store, path="data", mode="r+")
            a.append(batch, axis=0)
        session.commit("save")

    t0 = time.perf_counter()
    if job["kind"] == "bulk":
        save(data, True)
    else:
        per = job["rowsPerSave"]
        for k in range(job["saves"]):
            save(data[k * per:(k + 1) * per], k == 0)
    print(json.dumps({"seconds": time.perf_counter() - t0}))


main()
# Leave past the interpreter's finalization: icechunk's tokio threads may still touch
# it while it finalizes, which crashed it under load (a segfault in libpython).
sys.stdout.flush()
os._exit(0)
