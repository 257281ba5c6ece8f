//! The ceiling of `npm run bench`: the same workloads as the JS contenders, calling
//! `zarr_saver_core::save` directly, with no N-API, no JS conversion and no libuv hop.
//!
//! ```sh
//! cargo run --release -p zarr-saver-core --example bench_direct -- '<jobs JSON>'
//! ```
//!
//! The argument is the job list `bench/run.mjs` hands every contender (see
//! `bench/lib/jobs.mjs`); the last line of stdout is the JSON report, shaped like the
//! other contenders' reports. Conversion jobs (`convert-*`) have no Rust form: a Rust
//! caller already holds typed memory, so they are reported as not applicable.

use std::borrow::Cow;
use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};
use zarr_saver_core::{
    save, Approach, AxisSelection, Compressor, CreateOptions, DType, Elements, NdData, SaveRequest,
};

// The addon links mimalloc as its global allocator; the ceiling uses the same.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Res<T> = Result<T, String>;

fn field<'a>(v: &'a Value, key: &str) -> Res<&'a Value> {
    v.get(key)
        .ok_or_else(|| format!("job field '{key}' is missing"))
}

fn u64_of(v: &Value, key: &str) -> Res<u64> {
    field(v, key)?
        .as_u64()
        .ok_or_else(|| format!("job field '{key}' is not an unsigned integer"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> Res<&'a str> {
    field(v, key)?
        .as_str()
        .ok_or_else(|| format!("job field '{key}' is not a string"))
}

fn dims(v: &Value, key: &str) -> Res<Vec<u64>> {
    field(v, key)?
        .as_array()
        .and_then(|a| a.iter().map(Value::as_u64).collect())
        .ok_or_else(|| format!("job field '{key}' is not a list of sizes"))
}

/// The first `rows * cols` float64 values of the shared data file, as little-endian bytes.
fn read_rows(path: &str, offset_rows: u64, rows: u64, cols: u64) -> Res<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    f.seek(SeekFrom::Start(offset_rows * cols * 8))
        .map_err(|e| format!("{path}: {e}"))?;
    let mut buf = vec![0u8; (rows * cols * 8) as usize];
    f.read_exact(&mut buf).map_err(|e| format!("{path}: {e}"))?;
    Ok(buf)
}

fn request(location: &Path, approach: Approach, job: &Value) -> Res<SaveRequest> {
    let compressor = match field(job, "codec")? {
        Value::Null => Compressor::None,
        c => Compressor::Config(c.clone()),
    };
    let mut req = SaveRequest::new(location.to_string_lossy(), "data", approach);
    req.create = CreateOptions {
        chunks: Some(dims(job, "chunks")?),
        compressor,
        ..CreateOptions::default()
    };
    Ok(req)
}

fn nd(bytes: &[u8], shape: Vec<u64>) -> Res<NdData<'_>> {
    NdData::new(
        Elements::Fixed {
            dtype: DType::Float64,
            bytes: Cow::Borrowed(bytes),
        },
        shape,
    )
    .map_err(|e| e.to_string())
}

fn run_save(req: &SaveRequest, data: NdData<'_>) -> Res<()> {
    save(req, data).map(|_| ()).map_err(|e| e.to_string())
}

/// Peak resident set of this process so far, in KiB (the kernel's high-water mark).
fn max_rss_kib() -> u64 {
    status_kib("VmHWM:")
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Untimed: create, append and update a small array with the job's codec, so the
/// thread pool, codec tables and page cache paths are warm, as in the JS contenders.
fn warm_up(job: &Value) -> Res<()> {
    // Kept, as every output, until the harness exits (bench/README.md, "Outputs").
    let id: String = str_of(job, "id")?
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let dir = Path::new(str_of(job, "out")?).join(format!("warmup-{id}.zarr"));
    let cols = u64_of(job, "cols").unwrap_or(16);
    let bytes = read_rows(str_of(job, "dataFile")?, 0, 16384, cols)?;
    run_save(
        &request(&dir, Approach::Overwrite, job)?,
        nd(&bytes, vec![16384, cols])?,
    )?;
    run_save(
        &request(&dir, Approach::Append, job)?,
        nd(&bytes[..(100 * cols * 8) as usize], vec![100, cols])?,
    )?;
    let mut upd = request(&dir, Approach::Update, job)?;
    upd.selection = Some(vec![AxisSelection::Indices(vec![3, 9000])]);
    run_save(&upd, nd(&bytes[..(2 * cols * 8) as usize], vec![2, cols])?)?;
    zarr_saver_core::finish_removals();
    Ok(())
}

/// Save `bytes` (rows of `shape`) through `req` `repeats` times and keep the fastest
/// time (noise only ever slows a run down); with `fresh`, move `container` aside
/// between repeats, outside the timed part (it is kept until the harness exits,
/// see bench/README.md). Returns the job's result, for the caller to add
/// what else it measured.
fn repeated_saves(
    job: &Value,
    container: &Path,
    fresh: bool,
    req: &SaveRequest,
    bytes: &[u8],
    shape: Vec<u64>,
) -> Res<Value> {
    let repeats = job
        .get("repeats")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1);
    let mut all = Vec::new();
    for k in 0..repeats {
        if k > 0 && fresh && container.exists() {
            let aside = format!("{}.rep{}", container.display(), k - 1);
            std::fs::rename(container, aside).map_err(|e| e.to_string())?;
        }
        let t = Instant::now();
        run_save(req, nd(bytes, shape.clone())?)?;
        all.push(t.elapsed().as_secs_f64());
    }
    let seconds = all.iter().copied().fold(f64::INFINITY, f64::min);
    Ok(json!({"id": job["id"], "seconds": seconds, "secondsAll": all, "bytes": bytes.len()}))
}

fn run_job(job: &Value) -> Res<Value> {
    let kind = str_of(job, "kind")?;
    let data_file = str_of(job, "dataFile")?;
    let cols = u64_of(job, "cols")?;
    if kind.starts_with("convert") {
        return Ok(
            json!({"id": job["id"], "skipped": "not applicable: Rust callers hold typed memory, there is nothing to convert"}),
        );
    }
    warm_up(job)?;
    let container = Path::new(str_of(job, "container")?);
    match kind {
        "bulk" => {
            let rows = u64_of(job, "rows")?;
            let bytes = read_rows(data_file, 0, rows, cols)?;
            let rss_before = rss_kib();
            let req = request(container, Approach::Overwrite, job)?;
            let mut result = repeated_saves(job, container, true, &req, &bytes, vec![rows, cols])?;
            result["rssBeforeKiB"] = json!(rss_before);
            Ok(result)
        }
        "append" => {
            let saves = u64_of(job, "saves")?;
            let per = u64_of(job, "rowsPerSave")?;
            let bytes = read_rows(data_file, 0, saves * per, cols)?;
            let req = request(container, Approach::Append, job)?;
            let row_bytes = (per * cols * 8) as usize;
            let t = Instant::now();
            for k in 0..saves as usize {
                let slice = &bytes[k * row_bytes..(k + 1) * row_bytes];
                run_save(&req, nd(slice, vec![per, cols])?)?;
            }
            let seconds = t.elapsed().as_secs_f64();
            Ok(
                json!({"id": job["id"], "seconds": seconds, "bytes": saves * per * cols * 8,
                      "saves": saves}),
            )
        }
        "update" => {
            let template_rows = u64_of(job, "templateRows")?;
            let count = u64_of(job, "count")?;
            let indices: Vec<i64> = serde_json::from_str::<Vec<i64>>(
                &std::fs::read_to_string(str_of(job, "indicesFile")?).map_err(|e| e.to_string())?,
            )
            .map_err(|e| e.to_string())?
            .into_iter()
            .take(count as usize)
            .collect();
            let bytes = read_rows(data_file, template_rows, count, cols)?;
            let mut req = request(container, Approach::Update, job)?;
            req.selection = Some(vec![AxisSelection::Indices(indices)]);
            let shape = vec![count, cols];
            let mut result = repeated_saves(job, container, false, &req, &bytes, shape)?;
            result["rows"] = json!(count);
            Ok(result)
        }
        other => Err(format!("unknown job kind '{other}'")),
    }
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_default();
    let jobs: Vec<Value> = match serde_json::from_str(&arg) {
        Ok(Value::Array(a)) => a,
        Ok(one @ Value::Object(_)) => vec![one],
        _ => {
            eprintln!("usage: bench_direct '<JSON list of jobs from bench/run.mjs>'");
            std::process::exit(2);
        }
    };
    let mut results = Vec::new();
    for job in &jobs {
        match run_job(job) {
            Ok(r) => results.push(r),
            Err(e) => {
                eprintln!("bench_direct: job {}: {e}", job["id"]);
                std::process::exit(1);
            }
        }
    }
    zarr_saver_core::finish_removals();
    let report = json!({
        "contender": "rust-direct",
        "results": results,
        "maxRssKiB": max_rss_kib(),
    });
    println!("{report}");
}
