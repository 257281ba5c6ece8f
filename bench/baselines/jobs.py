"""What every Python contender of the harness does with a job the same way: read the
shared data file, report RSS, warm a saver class up, and time repeated saves."""
import os
import time

import numpy as np


def read_rows(path, offset, rows, cols):
    return np.fromfile(path, dtype="<f8", count=rows * cols, offset=offset * cols * 8).reshape(rows, cols)


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def warm_up(job, saver_class):
    """Untimed: create, append and update a small array with `saver_class` and the
    job's codec. Kept, as every output, until the harness exits (bench/README.md,
    "Outputs")."""
    container = os.path.join(job["out"], "warmup-" + "".join(c if c.isalnum() else "-" for c in job["id"]) + ".zarr")
    cols = job["cols"]
    rows = read_rows(job["dataFile"], 0, 16384, cols)
    kw = dict(chunks=[8192, cols], codec=job["codec"])
    saver_class(container, "data", "overwrite").save(rows, **kw)
    saver_class(container, "data", "append").save(rows[:100], **kw)
    saver_class(container, "data", "update").save(rows[:2], indices=[3, 9000])


def repeated(job, fn, fresh=True):
    """Time `fn` job["repeats"] times, keep the fastest; with `fresh`, move the
    container aside between repeats (outside the timed part; it is kept until the
    harness exits, see bench/README.md)."""
    times = []
    for k in range(job.get("repeats") or 1):
        if k > 0 and fresh and os.path.exists(job["container"]):
            os.rename(job["container"], f'{job["container"]}.rep{k - 1}')
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"seconds": min(times), "secondsAll": times}
