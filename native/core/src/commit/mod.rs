//! The executor: one save of one array or many, whatever the approach. It opens the
//! container, takes the locks, brings back what a crashed writer left, reads the
//! nodes, has [`plan`] decide, then commits the plans in order: chunks, then
//! metadata, then consolidated copies. It owns the retries (an Icechunk commit that
//! lost a race) and the crash records (a commit of several arrays).

use std::sync::Arc;

use zarrs::array::CodecOptions;

mod shared_heap;
mod steps;

use crate::control::Control;
use crate::error::{Result, SaveError};
use crate::hierarchy::{self, Node};
use crate::lock::with_dataset_lock;
use crate::plan::{self, Approach, ArrayInput, ArrayPlan, Change, Rules};
use crate::recovery::{finish_interrupted, restore};
use crate::request::{Caller, Destination, SaveOutcome};
use crate::store::{self, Container, Scope, Transaction, COMMIT_RECORD};
use crate::threads;
use steps::{create, grow, update, Writing};

/// Appends up to this size may run on the calling thread.
const SMALL_APPEND_BYTES: u64 = 1 << 20;
/// Times a save runs from a fresh session when an Icechunk commit lost a race.
const ICECHUNK_ATTEMPTS: u32 = 12;

/// What the arrays of a save share: one dataset, or a group's arrays.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// One array at this path.
    Dataset(&'a str),
    /// Arrays of the group at this path (`""`: the root), named by their inputs.
    Group(&'a str),
}

/// A look at the plans under the locks, before anything is written.
pub type Inspect<'a> = dyn Fn(&Container, &[ArrayPlan<'_>]) -> Result<()> + Sync + 'a;

/// One save, as the entry points hand it over.
pub struct Job<'j, 'a> {
    pub destination: &'j Destination,
    pub target: Target<'j>,
    pub rules: Rules<'j>,
    pub inputs: Vec<ArrayInput<'a>>,
    /// An update whose chunks no other writer touches (see `SaveRequest`).
    pub exclusive_chunks: bool,
    /// The thread the save was called on: whether a small append runs there.
    pub caller: Caller,
}

impl<'j, 'a> Job<'j, 'a> {
    /// A save of `inputs` at `target` as `rules` say (a group's rules marked as such),
    /// with no exclusive chunks and nothing run on the calling thread.
    pub fn new(
        destination: &'j Destination,
        target: Target<'j>,
        mut rules: Rules<'j>,
        inputs: Vec<ArrayInput<'a>>,
    ) -> Self {
        rules.group = matches!(target, Target::Group(_));
        rules.max_chunk_bytes = destination.max_chunk_bytes;
        Self {
            destination,
            target,
            rules,
            inputs,
            exclusive_chunks: false,
            caller: Caller::PoolOnly,
        }
    }
}

/// Run `job`: its outcome per array, in input order. `inspect` sees the plans under
/// the locks, before anything is written.
pub fn run(
    job: &Job<'_, '_>,
    control: &Arc<Control>,
    inspect: &Inspect<'_>,
) -> Result<Vec<SaveOutcome>> {
    let dest = job.destination;
    let pool = threads::pool(dest.threads)?;
    // A small append touches one or two chunks: handing it to the pool costs more than it
    // saves. It runs on its caller's thread, with one thread: parallel work from there
    // would go to rayon's global pool (which `threads` does not size) and wake it.
    let small = job.caller != Caller::PoolOnly
        && job.rules.approach == Approach::Append
        && job.inputs.iter().all(|i| {
            i.data.as_ref().is_some_and(|d| {
                d.num_elements() * d.dtype().size().unwrap_or(32) as u64 <= SMALL_APPEND_BYTES
            })
        });
    if small {
        control.run_inline();
    }
    let threads = if small { 1 } else { pool.current_num_threads() };
    let options = CodecOptions::default().with_concurrent_target(threads);
    let attempt = || {
        let container = Container::open(&dest.location, &dest.store, control.clone())?;
        let go = || execute(&container, job, &options, control, inspect);
        let go = || if small { go() } else { pool.install(go) };
        // Saves to one dataset take turns in this process, in call order; updates of
        // chunks no other writer touches need not.
        if job.exclusive_chunks && job.rules.approach == Approach::Update {
            return go();
        }
        let key = match job.target {
            Target::Dataset(path) => format!("{}\u{0}{path}", container.id),
            Target::Group(path) => format!("{}\u{0}{path}\u{0}group", container.id),
        };
        with_dataset_lock(&key, go)
    };
    retry_conflicts(dest.store.icechunk.is_some(), attempt)
}

/// Run a save; on an Icechunk repository, run it again from a fresh session when a
/// concurrent commit changed what it read (an append's row count above all), a
/// bounded number of times with growing, jittered pauses.
pub(crate) fn retry_conflicts<T>(icechunk: bool, attempt: impl Fn() -> Result<T>) -> Result<T> {
    let mut tries = 1;
    loop {
        match attempt() {
            Err(SaveError::Conflict(_)) if icechunk && tries < ICECHUNK_ATTEMPTS => {
                let jitter = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos() as u64 % 50);
                let pause = 20 * u64::from(tries.min(8)) + jitter;
                std::thread::sleep(std::time::Duration::from_millis(pause));
                tries += 1;
            }
            Err(SaveError::Conflict(m)) if icechunk => {
                return Err(SaveError::Conflict(format!(
                    "{m} (gave up after {ICECHUNK_ATTEMPTS} attempts)"
                )))
            }
            other => return other,
        }
    }
}

/// Where messages say the arrays are.
fn container_label(job: &Job<'_, '_>) -> String {
    match job.target {
        Target::Dataset(_) => format!("'{}'", store::redact(&job.destination.location)),
        Target::Group(group) => format!("group '{group}'"),
    }
}

fn execute(
    container: &Container,
    job: &Job<'_, '_>,
    options: &CodecOptions,
    control: &Control,
    inspect: &Inspect<'_>,
) -> Result<Vec<SaveOutcome>> {
    let rules = &job.rules;
    let creates = rules.approach != Approach::Update && rules.reserve.is_none();
    let names: Vec<String> = job
        .inputs
        .iter()
        .map(|i| i.node.rsplit('/').next().unwrap_or(&i.node).to_string())
        .collect();
    let record = match job.target {
        Target::Group("") => COMMIT_RECORD.to_string(),
        Target::Group(g) => format!("{g}/{COMMIT_RECORD}"),
        Target::Dataset(_) => String::new(),
    };
    let scope = match job.target {
        Target::Dataset(path) if job.exclusive_chunks && rules.approach == Approach::Update => {
            Scope::ExclusiveChunks { path }
        }
        Target::Dataset(path) => Scope::Dataset {
            path,
            create: creates,
        },
        Target::Group(path) => Scope::Group {
            path,
            arrays: &names,
            create: creates,
            record: &record,
        },
    };
    let what = container_label(job);
    let Some(mut txn) = Transaction::begin(container, &scope)? else {
        let labels: Vec<&str> = job.inputs.iter().map(|i| i.label.as_str()).collect();
        return Err(plan::not_found(&what, &labels, rules));
    };
    // What is there, each array brought back to the last commit if a writer crashed.
    finish_interrupted(&mut txn)?;
    let mut nodes = Vec::with_capacity(job.inputs.len());
    for input in &job.inputs {
        let max = job.destination.max_chunk_bytes;
        let found = match hierarchy::read_node_bounded(container, &input.node, max) {
            // Overwrite is the way out of a damaged dataset: it replaces whatever is there.
            Err(SaveError::Corrupt(_)) if rules.approach == Approach::Overwrite => Node::Missing,
            other => other?,
        };
        nodes.push(match found {
            Node::Array(e) if txn.recovered() => Node::Array(restore(&mut txn, &input.node, e)?),
            other => other,
        });
    }
    let plans = plan::plan(container, rules, job.inputs.clone(), nodes, &what)?;
    inspect(container, &plans)?;
    let w = Writing {
        message: describe(job, &plans),
        options,
        control,
    };
    let mut write = || -> Result<()> {
        match plans.first().map(|p| &p.change) {
            Some(Change::Create { format, .. }) => {
                let format = *format;
                create(&mut txn, job, &plans, format, &w)
            }
            Some(Change::Append { .. } | Change::Reserve { .. }) => grow(&mut txn, &plans, &w),
            Some(Change::Update { .. }) => update(&mut txn, &plans, &w),
            None => Ok(()),
        }
    };
    // Chunks are written in parallel, each held decoded: no more at once than
    // `maxChunkBytes` holds, so the bound is the save's, not each thread's.
    let largest = plans.iter().map(ArrayPlan::chunk_bytes).max().unwrap_or(0);
    let at_once = (job.destination.max_chunk_bytes / largest.max(1)).max(1);
    if at_once < options.concurrent_target() as u64 {
        threads::pool(Some(at_once as usize))?.install(write)?;
    } else if job.caller == Caller::SharedHeap && !plans.iter().all(shared_heap::encodes_in_rust) {
        threads::pool(job.destination.threads)?.install(write)?;
    } else {
        write()?;
    }
    let snapshot_id = txn.snapshot_id();
    Ok(plans
        .into_iter()
        .map(|p| SaveOutcome {
            created: matches!(p.change, Change::Create { .. }),
            shape: p.shape,
            dtype: p.dtype,
            region: p.region,
            snapshot_id: snapshot_id.clone(),
        })
        .collect())
}

/// What the save does, in words: an Icechunk commit's message unless one was given.
fn describe(job: &Job<'_, '_>, plans: &[ArrayPlan<'_>]) -> String {
    let Some(first) = plans.first() else {
        return String::new();
    };
    let verb = match &first.change {
        Change::Create { .. } if job.rules.approach == Approach::Overwrite => "overwrite".into(),
        Change::Create { .. } => "create".into(),
        Change::Update { .. } => "update".into(),
        Change::Reserve { .. } => "reserve rows in".into(),
        Change::Append { start, .. } => {
            let axis = job.rules.axis;
            let (from, to) = (start[axis], first.shape[axis]);
            match job.target {
                Target::Dataset(_) => format!("append rows {from}..{to} along axis {axis} to"),
                Target::Group(_) => format!("append {} rows to", to - from),
            }
        }
    };
    match job.target {
        Target::Dataset(path) => match &first.change {
            Change::Create { .. } => {
                format!("zarr-saver: {verb} '{path}' with shape {:?}", first.shape)
            }
            Change::Update { .. } => {
                let bounds: Vec<String> = first
                    .region
                    .iter()
                    .map(|(a, b)| format!("{a}..{b}"))
                    .collect();
                format!("zarr-saver: update [{}] of '{path}'", bounds.join(", "))
            }
            _ => format!("zarr-saver: {verb} '{path}'"),
        },
        Target::Group(group) => {
            let group = if group.is_empty() { "/" } else { group };
            let names: Vec<&str> = plans
                .iter()
                .map(|p| p.node.rsplit('/').next().unwrap_or(&p.node))
                .collect();
            format!("zarr-saver: {verb} group '{group}' ({})", names.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::retry_conflicts;
    use crate::error::SaveError;
    use std::cell::Cell;

    #[test]
    fn icechunk_conflicts_are_retried_then_reported() {
        let runs = Cell::new(0);
        let lost = || {
            runs.set(runs.get() + 1);
            Err::<(), _>(SaveError::Conflict("lost".into()))
        };
        let err = retry_conflicts(true, lost).unwrap_err();
        assert_eq!(err.code(), "ERR_ZARR_CONFLICT");
        assert_eq!(runs.get(), 12);
        // A plain store's conflict is reported at once; a later win is a win.
        runs.set(0);
        assert!(retry_conflicts(false, lost).is_err());
        assert_eq!(runs.get(), 1);
        runs.set(0);
        let third_wins = || {
            runs.set(runs.get() + 1);
            if runs.get() < 3 {
                Err(SaveError::Conflict("lost".into()))
            } else {
                Ok(runs.get())
            }
        };
        assert_eq!(retry_conflicts(true, third_wins).unwrap(), 3);
    }
}
