//! The pool of buffers the encoder writes chunks into.

/// Encoded chunks are written into buffers kept for the next chunks: a fresh megabyte
/// from the allocator is often fresh pages from the kernel, zeroed on first touch.
static POOL: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
const POOL_MAX: usize = 8;

/// An empty buffer of at least `capacity` bytes, from the pool when it has one.
pub(super) fn pooled_buffer(capacity: usize) -> Vec<u8> {
    let reused = {
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        let fit = pool
            .iter()
            .position(|b| (capacity..=2 * capacity).contains(&b.capacity()));
        fit.map(|i| pool.swap_remove(i))
    };
    let mut buffer = reused.unwrap_or_else(|| Vec::with_capacity(capacity));
    buffer.clear();
    buffer
}

/// An encoded chunk whose buffer goes back to the pool when its last `Bytes` is dropped.
pub(super) struct Pooled(pub(super) Vec<u8>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let buffer = std::mem::take(&mut self.0);
        let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL_MAX {
            pool.push(buffer);
        }
    }
}
