//! The one Tokio runtime for all object-store I/O (plain stores and Icechunk): its
//! threads only wait on sockets, and encoding stays on rayon.

use std::sync::OnceLock;

use tokio::runtime::Runtime;

/// The runtime, started on first use.
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("zarr-saver-io")
            .enable_all()
            .build()
            .expect("a Tokio runtime starts")
    })
}
