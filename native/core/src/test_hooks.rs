//! Faults a test can ask for, to prove that a panic of the core never takes the host
//! process down: with `ZARR_SAVER_TEST_PANIC=chunk` in the environment, every chunk
//! write panics (on the calling thread for a one-chunk save, on rayon workers for
//! more). Read at each point, so a test can unset it and save again in the same
//! process. Never set outside tests.

/// The environment variable a test sets to a point's name.
pub const PANIC_VARIABLE: &str = "ZARR_SAVER_TEST_PANIC";

/// Panic here if a test asked for a panic at `point` (reported at the caller's line).
#[track_caller]
pub fn panic_if_asked(point: &str) {
    if std::env::var_os(PANIC_VARIABLE).is_some_and(|v| v == point) {
        panic!("{PANIC_VARIABLE}={point}: a panic a test asked for");
    }
}
