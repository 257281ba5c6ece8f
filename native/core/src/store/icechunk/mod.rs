//! Icechunk repositories: a save is one session on a branch, written through
//! zarrs_icechunk's store (zarrs' async storage over the session) and made visible
//! by one commit. Nothing a session writes is seen before its commit, and a session
//! that never commits leaves only unreferenced chunk objects behind.
//!
//! Local repositories: Icechunk's filesystem storage does not make concurrent
//! commits safe, so a writer holds a lock on the repository directory from
//! opening its session to its commit; commits never conflict. Object stores:
//! Icechunk's conditional branch update finds a concurrent commit; the session is
//! rebased over it, and when the two touched the same array metadata or chunks
//! (two appends always do) the save is run again from a fresh session.
//!
//! `session` holds a save's session and its storage, `repository` opens (and keeps)
//! repositories, `storage` configures Icechunk's clients from `store::cloud`, and
//! `backend` is the repository's part in the commit protocol.

mod backend;
mod repository;
mod session;
mod storage;

#[cfg(test)]
pub(crate) use backend::container_on;
pub use backend::open;
pub use session::Session;

use crate::error::SaveError;

/// What `icechunk: { branch, message }` asks for.
#[derive(Debug, Clone)]
pub struct IcechunkOptions {
    /// The branch each save commits to.
    pub branch: String,
    /// The commit message; `None`: one describing the save.
    pub message: Option<String>,
}

impl Default for IcechunkOptions {
    fn default() -> Self {
        Self {
            branch: "main".into(),
            message: None,
        }
    }
}

/// Run `future` on the core's I/O runtime from a sync caller.
fn block_on<F: core::future::Future>(future: F) -> F::Output {
    crate::store::cloud::runtime().block_on(future)
}

fn io_error(context: &str, e: impl std::fmt::Display) -> SaveError {
    SaveError::Store {
        message: format!("{context}: {e}"),
        os_code: None,
    }
}

#[cfg(test)]
mod tests {
    use crate::data::f64s;
    use crate::plan::Approach;
    use crate::request::SaveRequest;
    use crate::saver::save;
    use crate::selection::AxisSelection;

    fn request(repo: &std::path::Path, approach: Approach) -> SaveRequest {
        let mut req = SaveRequest::new(repo.display().to_string(), "a", approach);
        req.destination.store.icechunk = Some(super::IcechunkOptions::default());
        req.destination.threads = Some(1);
        req
    }

    #[test]
    fn each_save_is_a_commit_on_the_branch() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let first = save(
            &request(&repo, Approach::Append),
            f64s(&[1.0, 2.0], vec![2]),
        )
        .unwrap();
        let second = save(&request(&repo, Approach::Append), f64s(&[3.0], vec![1])).unwrap();
        assert_eq!(second.shape, vec![3]);
        let mut update = request(&repo, Approach::Update);
        update.selection = Some(vec![AxisSelection::Index(0)]);
        let third = save(&update, f64s(&[9.0], vec![1])).unwrap();
        let ids = [first.snapshot_id, second.snapshot_id, third.snapshot_id];
        assert!(ids.iter().all(Option::is_some));
        assert!(ids[0] != ids[1] && ids[1] != ids[2]);
        // Only Zarr v3, and the request is refused before the repository is touched.
        let other = dir.path().join("other");
        let mut v2 = request(&other, Approach::Append);
        v2.create.zarr_format = Some(2);
        let err = save(&v2, f64s(&[1.0], vec![1])).unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_INVALID_ARGUMENT");
        assert!(!other.exists());
    }
}
