//! Which saves may encode on a thread whose malloc arena a runtime shares (Node's
//! main thread, V8's heap). C codecs allocate chunk-sized buffers with glibc's
//! malloc, which raises its mmap threshold as they are freed and then serves them
//! from that thread's heap: it grew by about 1 MB per small append under `saveSync`
//! (4.7 GiB for W2). Rust's allocations go to mimalloc. So a small append runs on the
//! JS thread whole only when its chunks are encoded without such buffers: no
//! compression, or blosc lz4 with the byte shuffle done here (`crate::blosc`), whose
//! blocks are small.

use serde_json::Value;

use crate::plan::{ArrayPlan, Change};

/// Codecs that allocate nothing of a chunk's size outside Rust.
const RUST_ONLY: [&str; 3] = ["bytes", "transpose", "crc32c"];

/// Whether the chunks `plan` writes are encoded without C allocations of their size.
pub(super) fn encodes_in_rust(plan: &ArrayPlan<'_>) -> bool {
    let meta = match &plan.change {
        Change::Create { new, .. } => &new.main,
        Change::Append { meta, .. } | Change::Reserve { meta, .. } => meta,
        Change::Update { existing, .. } => &existing.meta,
    };
    match meta.get("codecs").and_then(Value::as_array) {
        Some(codecs) => codecs.iter().all(|c| {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            RUST_ONLY.contains(&name) || (name == "blosc" && blosc_shuffled_here(c))
        }),
        // Zarr v2: only arrays with neither compressor nor filters.
        None => {
            meta.get("compressor").is_none_or(Value::is_null)
                && meta
                    .get("filters")
                    .is_none_or(|f| f.is_null() || f.as_array().is_some_and(Vec::is_empty))
        }
    }
}

/// Blosc lz4 whose shuffle, if any, is the byte shuffle of 4- or 8-byte elements
/// that `crate::blosc` does itself.
fn blosc_shuffled_here(codec: &Value) -> bool {
    let conf = &codec["configuration"];
    let typesize = conf["typesize"].as_u64().unwrap_or(0);
    conf["cname"].as_str() == Some("lz4")
        && match conf["shuffle"].as_str() {
            Some("noshuffle") => true,
            Some("shuffle") => typesize == 4 || typesize == 8,
            _ => false,
        }
}
