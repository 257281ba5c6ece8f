"""The zarr-python 3 contender of `npm run bench`.

    python bench/baselines/zarr_python_bench.py '<jobs JSON>'

Runs each job (see bench/lib/workloads.mjs) once, after an untimed warm-up, timing
itself inside the process (interpreter start-up and imports excluded), and prints one
JSON report as the last line of stdout. `ZarrPythonSaver` is the Python saver with the
same approaches as zarr-saver: it reopens the array on every save, as a stateless
saver must, creates it with the same chunks and codecs, appends with `Array.append`
and updates with an orthogonal selection (an integer array on axis 0).
"""

import json
import resource
import sys
import time

import numcodecs
import numpy as np
import zarr
from zarr.codecs import BytesCodec
from zarr.errors import ArrayNotFoundError
from zarr.registry import get_codec_class

from jobs import read_rows, repeated, rss_kib, warm_up


def compressors_of(codec):
    """The job's v3 codec JSON as zarr-python codec objects (None: uncompressed)."""
    if codec is None:
        return None
    return [get_codec_class(codec["name"]).from_dict(codec)]


class ZarrPythonSaver:
    def __init__(self, file_path, dataset_name="dataset", approach="append"):
        self.file_path = file_path
        self.dataset_name = dataset_name
        self.approach = approach

    def _create(self, data, chunks, codec):
        arr = zarr.create_array(
            store=self.file_path,
            name=self.dataset_name,
            shape=data.shape,
            dtype=data.dtype,
            chunks=tuple(chunks),
            compressors=compressors_of(codec),
            serializer=BytesCodec(endian="little"),
            fill_value=0,
            zarr_format=3,
            overwrite=True,
        )
        arr[...] = data
        return arr

    def _open(self):
        return zarr.open_array(store=self.file_path, path=self.dataset_name, mode="r+")

    def save(self, data, indices=None, chunks=None, codec=None):
        if self.approach == "overwrite":
            return self._create(data, chunks, codec)
        if self.approach == "append":
            try:
                arr = self._open()
            except (ArrayNotFoundError, FileNotFoundError):
                return self._create(data, chunks, codec)
            arr.append(data, axis=0)
            return arr
        if self.approach == "update":
            arr = self._open()
            sel = (np.asarray(indices, dtype=np.int64),) + (slice(None),) * (arr.ndim - 1)
            arr.set_orthogonal_selection(sel, data)
            return arr
        raise ValueError(f"unknown approach {self.approach!r}")










def run_job(job):
    container = job["container"]
    cols = job["cols"]
    kw = dict(chunks=job["chunks"], codec=job["codec"])
    kind = job["kind"]
    if kind == "bulk":
        data = read_rows(job["dataFile"], 0, job["rows"], cols)
        saver = ZarrPythonSaver(container, "data", "overwrite")
        before = rss_kib()
        t = repeated(job, lambda: saver.save(data, **kw))
        return {**t, "bytes": data.nbytes, "rssBeforeKiB": before}
    if kind == "append":
        saves, per = job["saves"], job["rowsPerSave"]
        data = read_rows(job["dataFile"], 0, saves * per, cols)
        saver = ZarrPythonSaver(container, "data", "append")
        budget = job.get("budgetSeconds") or float("inf")
        done = 0
        t0 = time.perf_counter()
        while done < saves:
            saver.save(data[done * per : (done + 1) * per], **kw)
            done += 1
            if time.perf_counter() - t0 > budget:
                break
        seconds = time.perf_counter() - t0
        out = {"seconds": seconds, "bytes": done * per * cols * 8, "saves": done}
        if done < saves:
            out["capped"] = {"done": done, "of": saves, "unit": "saves"}
        return out
    if kind == "update":
        with open(job["indicesFile"]) as f:
            indices = json.load(f)[: job["count"]]
        values = read_rows(job["dataFile"], job["templateRows"], job["count"], cols)
        saver = ZarrPythonSaver(container, "data", "update")
        t = repeated(job, lambda: saver.save(values, indices=indices), fresh=False)
        return {**t, "bytes": values.nbytes, "rows": len(indices)}
    if kind == "convert-flat":
        n = job["count"]
        values = read_rows(job["dataFile"], 0, -(-n // cols), cols).reshape(-1)[:n].tolist()
        saver = ZarrPythonSaver(container, "data", "overwrite")
        t = repeated(job, lambda: saver.save(np.array(values), **kw))
        return {**t, "bytes": n * 8}
    if kind == "convert-nested":
        values = read_rows(job["dataFile"], 0, job["rows"], cols).tolist()
        saver = ZarrPythonSaver(container, "data", "overwrite")
        t = repeated(job, lambda: saver.save(np.array(values), **kw))
        return {**t, "bytes": job["rows"] * cols * 8}
    raise ValueError(f"unknown job kind {kind!r}")


def main():
    jobs = json.loads(sys.argv[1])
    results = []
    for job in jobs:
        warm_up(job, ZarrPythonSaver)
        results.append({"id": job["id"], **run_job(job)})
    report = {
        "contender": "zarr-python",
        "results": results,
        "maxRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "versions": {"zarr": zarr.__version__, "numpy": np.__version__, "numcodecs": numcodecs.__version__},
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
