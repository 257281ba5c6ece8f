"""The tensorstore contender of `npm run bench` (W1 to W3).

    python bench/baselines/tensorstore_bench.py '<jobs JSON>'

Runs each job (see bench/lib/workloads.mjs) once, after an untimed warm-up, timing
itself inside the process (interpreter start-up and imports excluded), and prints one
JSON report as the last line of stdout. `TensorstoreSaver` saves with the approaches of
zarr-saver through tensorstore's zarr3 driver on a local file kvstore: it creates the
array with the same chunks and codecs, opens it again on every save (as a stateless
saver must; one `ts.Context` is shared, so its cache and thread pools persist),
appends by growing the shape with `resize_metadata_only` then writing the new rows,
and updates with an orthogonal index array on axis 0. After the timed part it reads
the array back and compares it with what it was given: a mismatch is a crash.
"""

import json
import os
import resource
import sys
import time

import numpy as np
import tensorstore as ts

from jobs import read_rows, repeated, rss_kib, warm_up

CONTEXT = ts.Context()


def codecs_of(codec):
    """The job's v3 codec JSON after the bytes codec, as zarr.json lists them."""
    codecs = [{"name": "bytes", "configuration": {"endian": "little"}}]
    if codec is not None:
        codecs.append(codec)
    return codecs


class TensorstoreSaver:
    def __init__(self, file_path, dataset_name="data", approach="append"):
        self.path = os.path.join(file_path, dataset_name)
        self.approach = approach

    def _spec(self):
        return {"driver": "zarr3", "kvstore": {"driver": "file", "path": self.path}}

    def _create(self, data, chunks, codec):
        spec = self._spec()
        spec["metadata"] = {
            "shape": list(data.shape),
            "data_type": "float64",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunks)}},
            "chunk_key_encoding": {"name": "default"},
            "fill_value": 0,
            "codecs": codecs_of(codec),
        }
        arr = ts.open(spec, create=True, delete_existing=True, context=CONTEXT).result()
        arr.write(data).result()
        return arr

    def _open(self):
        return ts.open(self._spec(), open=True, context=CONTEXT).result()

    def save(self, data, indices=None, chunks=None, codec=None):
        if self.approach == "overwrite":
            return self._create(data, chunks, codec)
        if self.approach == "append":
            try:
                arr = self._open()
            except ValueError:
                return self._create(data, chunks, codec)
            start = arr.shape[0]
            end = start + data.shape[0]
            arr = arr.resize(exclusive_max=[end] + [None] * (arr.rank - 1), resize_metadata_only=True).result()
            arr[start:end].write(data).result()
            return arr
        if self.approach == "update":
            arr = self._open()
            arr.oindex[np.asarray(indices, dtype=np.int64)].write(data).result()
            return arr
        raise ValueError(f"unknown approach {self.approach!r}")






def read_back(container):
    arr = ts.open({"driver": "zarr3", "kvstore": {"driver": "file", "path": os.path.join(container, "data")}}).result()
    return arr.read().result()


def check(what, stored, expected):
    if stored.shape != expected.shape or not np.array_equal(stored, expected):
        raise SystemExit(f"tensorstore {what}: the array read back differs from the data saved")






def run_job(job):
    container = job["container"]
    cols = job["cols"]
    kw = dict(chunks=job["chunks"], codec=job["codec"])
    kind = job["kind"]
    if kind == "bulk":
        data = read_rows(job["dataFile"], 0, job["rows"], cols)
        saver = TensorstoreSaver(container, "data", "overwrite")
        before = rss_kib()
        t = repeated(job, lambda: saver.save(data, **kw))
        check(job["id"], read_back(container), data)
        return {**t, "bytes": data.nbytes, "rssBeforeKiB": before}
    if kind == "append":
        saves, per = job["saves"], job["rowsPerSave"]
        data = read_rows(job["dataFile"], 0, saves * per, cols)
        saver = TensorstoreSaver(container, "data", "append")
        budget = job.get("budgetSeconds") or float("inf")
        done = 0
        t0 = time.perf_counter()
        while done < saves:
            saver.save(data[done * per : (done + 1) * per], **kw)
            done += 1
            if time.perf_counter() - t0 > budget:
                break
        seconds = time.perf_counter() - t0
        check(job["id"], read_back(container), data[: done * per])
        out = {"seconds": seconds, "bytes": done * per * cols * 8, "saves": done}
        if done < saves:
            out["capped"] = {"done": done, "of": saves, "unit": "saves"}
        return out
    if kind == "update":
        with open(job["indicesFile"]) as f:
            indices = json.load(f)[: job["count"]]
        values = read_rows(job["dataFile"], job["templateRows"], job["count"], cols)
        saver = TensorstoreSaver(container, "data", "update")
        t = repeated(job, lambda: saver.save(values, indices=indices), fresh=False)
        expected = read_rows(job["dataFile"], 0, job["templateRows"], cols).copy()
        expected[np.asarray(indices, dtype=np.int64)] = values
        check(job["id"], read_back(container), expected)
        return {**t, "bytes": values.nbytes, "rows": len(indices)}
    if kind in ("convert-flat", "convert-nested"):
        return {"skipped": "no JS values to convert (W1 to W3 only)"}
    raise ValueError(f"unknown job kind {kind!r}")


def main():
    jobs = json.loads(sys.argv[1])
    results = []
    for job in jobs:
        if job["kind"] not in ("convert-flat", "convert-nested"):
            warm_up(job, TensorstoreSaver)
        results.append({"id": job["id"], **run_job(job)})
    report = {
        "contender": "tensorstore",
        "results": results,
        "maxRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "versions": {"tensorstore": version(), "numpy": np.__version__},
    }
    print(json.dumps(report))


def version():
    try:
        from importlib.metadata import version as dist_version

        return dist_version("tensorstore")
    except Exception:
        return None


if __name__ == "__main__":
    main()
