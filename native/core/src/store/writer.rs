//! This process as a writer: the id its temp names, leases and commit records carry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// This process as a writer: `<pid>-<token>`, and `-<start>` (hex) where the OS
/// reuses pids so fast that the process's start time must tell it apart (Windows).
pub fn writer_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let id = format!("{}-{:08x}", std::process::id(), process_token());
        match crate::store::local::process_start() {
            Some(start) => format!("{id}-{start:x}"),
            None => id,
        }
    })
}

/// A number that differs between two processes with the same pid, with high odds.
fn process_token() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let stack = &nanos as *const _ as usize as u128;
    let mixed = nanos ^ stack.rotate_left(17) ^ (u128::from(std::process::id()) << 40);
    (mixed ^ (mixed >> 32) ^ (mixed >> 64)) as u32
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other write of any process uses: `<writer>.<n>`.
pub fn unique_id() -> String {
    format!(
        "{}.{}",
        writer_id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
