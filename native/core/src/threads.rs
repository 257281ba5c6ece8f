//! Rayon pools, one per requested thread count, built once and reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use rayon::ThreadPool;

use crate::error::{Result, SaveError};

/// More encoding threads than this is a mistake, not a machine (the facade says the same).
pub const MAX_THREADS: usize = 1024;

/// The pool for `threads` workers (`None`: one per core).
pub fn pool(threads: Option<usize>) -> Result<Arc<ThreadPool>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    // Reading the core count means cgroup files on Linux: do it once.
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let n = threads.unwrap_or(cores);
    if !(1..=MAX_THREADS).contains(&n) {
        return Err(SaveError::InvalidArgument(format!(
            "threads must be an integer from 1 to {MAX_THREADS}; got {n}"
        )));
    }
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = pools.get(&n) {
        return Ok(p.clone());
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("zarr-saver-{i}"))
        .build()
        .map_err(|e| {
            SaveError::InvalidArgument(format!("threads: cannot start {n} threads: {e}"))
        })?;
    let p = Arc::new(p);
    pools.insert(n, p.clone());
    Ok(p)
}
