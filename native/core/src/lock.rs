//! In-process serialisation of saves to one dataset (across processes, the store
//! locks: see `store::Transaction`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

type Registry = Mutex<HashMap<String, Weak<Mutex<()>>>>;

fn registry() -> &'static Registry {
    static LOCKS: OnceLock<Registry> = OnceLock::new();
    LOCKS.get_or_init(Registry::default)
}

/// Run `f` while holding the lock of `key`; locks are dropped when unused.
pub fn with_dataset_lock<T>(key: &str, f: impl FnOnce() -> T) -> T {
    let lock = {
        let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, weak| weak.strong_count() > 0);
        match map.get(key).and_then(Weak::upgrade) {
            Some(lock) => lock,
            None => {
                let lock = Arc::new(Mutex::new(()));
                map.insert(key.to_string(), Arc::downgrade(&lock));
                lock
            }
        }
    };
    let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
    f()
}
