//! The core without Node: save through `zarr_saver_core::save`, read back with zarrs.

use std::borrow::Cow;
use std::sync::Arc;

use zarr_saver_core::store::TEMP_PREFIX;
use zarr_saver_core::{
    reserve, save, save_with_control, Approach, AxisSelection, Caller, Control, CreateOptions,
    DType, Destination, Elements, NdData, ReserveRequest, SaveError, SaveRequest,
};
use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;

fn request(dir: &std::path::Path, approach: Approach) -> SaveRequest {
    let mut req = SaveRequest::new(dir.display().to_string(), "group/data", approach);
    req.create = CreateOptions {
        chunks: Some(vec![3, 2]),
        ..Default::default()
    };
    req.destination.threads = Some(2);
    req
}

fn f64s(values: &[f64], shape: Vec<u64>) -> NdData<'static> {
    let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    NdData::new(
        Elements::Fixed {
            dtype: DType::Float64,
            bytes: Cow::Owned(bytes),
        },
        shape,
    )
    .unwrap()
}

fn read(dir: &std::path::Path) -> (Vec<u64>, Vec<f64>) {
    let store = Arc::new(FilesystemStore::new(dir).unwrap());
    let array = Array::open(store, "/group/data").unwrap();
    let values: Vec<f64> = array.retrieve_array_subset(&array.subset_all()).unwrap();
    (array.shape().to_vec(), values)
}

#[test]
fn append_update_overwrite_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let rows = |start: usize, n: usize| {
        (start * 2..(start + n) * 2)
            .map(|v| v as f64)
            .collect::<Vec<_>>()
    };

    let first = save(
        &request(dir.path(), Approach::Append),
        f64s(&rows(0, 4), vec![4, 2]),
    )
    .unwrap();
    assert!(first.created);
    let second = save(
        &request(dir.path(), Approach::Append),
        f64s(&rows(4, 3), vec![3, 2]),
    )
    .unwrap();
    assert_eq!(second.region, vec![(4, 7), (0, 2)]);
    assert_eq!(read(dir.path()), (vec![7, 2], rows(0, 7)));

    let mut update = request(dir.path(), Approach::Update);
    update.selection = Some(vec![
        AxisSelection::Indices(vec![-1, 0]),
        AxisSelection::Index(1),
    ]);
    save(&update, f64s(&[-1.0, -2.0], vec![2])).unwrap();
    let mut expected = rows(0, 7);
    expected[13] = -1.0;
    expected[1] = -2.0;
    assert_eq!(read(dir.path()).1, expected);

    let replaced = save(
        &request(dir.path(), Approach::Overwrite),
        f64s(&[5.0, 6.0], vec![1, 2]),
    )
    .unwrap();
    assert_eq!(replaced.shape, vec![1, 2]);
    assert_eq!(read(dir.path()), (vec![1, 2], vec![5.0, 6.0]));
    // Nothing of the old array, nor any temp file, is left behind.
    let leftovers = entries_containing(dir.path(), &[TEMP_PREFIX, "/c/2"]);
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_cancelled_save_leaves_the_array_as_it_was() {
    let dir = one_row_array();
    let control = Arc::new(Control::default());
    control.cancel();
    let err = save_with_control(
        &request(dir.path(), Approach::Append),
        f64s(&[3.0; 8], vec![4, 2]),
        control,
        Caller::OwnThread,
    )
    .unwrap_err();
    assert_eq!(err.code(), "ERR_ZARR_ABORTED");
    assert_eq!(read(dir.path()), (vec![1, 2], vec![1.0, 2.0]));
    // Not even the temp files the append prepared while it would have encoded.
    let temps = entries_containing(dir.path(), &[TEMP_PREFIX]);
    assert!(temps.is_empty(), "{temps:?}");
}

/// Temp files of a crashed process that had this pid (containers reuse pids), in
/// today's names and in the names of earlier versions: the next save removes them.
#[test]
fn temp_files_of_a_crashed_process_with_our_pid_are_removed_by_the_next_save() {
    let dir = one_row_array();
    let data = dir.path().join("group/data");
    let pid = std::process::id();
    for n in 0..50 {
        for (d, name) in [(data.clone(), "zarr.json"), (data.join("c/0"), "0")] {
            std::fs::write(
                d.join(format!("{TEMP_PREFIX}{name}.{pid}-00000000.{n}")),
                b"x",
            )
            .unwrap();
            std::fs::write(d.join(format!("{TEMP_PREFIX}{name}.{pid}.{n}")), b"x").unwrap();
        }
    }
    for _ in 0..3 {
        save(
            &request(dir.path(), Approach::Append),
            f64s(&[3.0, 4.0], vec![1, 2]),
        )
        .unwrap();
    }
    assert_eq!(
        read(dir.path()),
        (vec![4, 2], vec![1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 3.0, 4.0])
    );
    zarr_saver_core::finish_removals();
    let temps = entries_containing(dir.path(), &[TEMP_PREFIX]);
    assert!(temps.is_empty(), "{temps:?}");
}

#[test]
fn progress_counts_every_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let control = Arc::new(Control::default());
    save_with_control(
        &request(dir.path(), Approach::Append),
        f64s(&[0.5; 20], vec![10, 2]),
        control.clone(),
        Caller::OwnThread,
    )
    .unwrap();
    let p = control.progress();
    assert_eq!((p.chunks_done, p.chunks_total), (4, 4));
    assert!(p.bytes_written > 0);
}

/// A temp dir holding `group/data`: one row, `[1, 2]`.
fn one_row_array() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    save(
        &request(dir.path(), Approach::Append),
        f64s(&[1.0, 2.0], vec![1, 2]),
    )
    .unwrap();
    dir
}

/// Entries under `root` whose path contains any of `needles`, once the background
/// removals of earlier saves are done.
fn entries_containing(root: &std::path::Path, needles: &[&str]) -> Vec<String> {
    zarr_saver_core::finish_removals();
    walk(root)
        .into_iter()
        .filter(|p| needles.iter().any(|n| p.contains(n)))
        .collect()
}

fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path.display().to_string());
    }
    out
}

/// Appends reuse the tail chunk they decoded last time; anything else that rewrites
/// that chunk in between (an update, another writer) must make the next append read it.
#[test]
fn appends_see_tail_chunk_changes_made_between_them() {
    let dir = tempfile::tempdir().unwrap();
    let append = |values: &[f64]| {
        save(
            &request(dir.path(), Approach::Append),
            f64s(values, vec![values.len() as u64 / 2, 2]),
        )
        .unwrap();
    };
    // Chunks of 3 rows: rows 3 and 4 share the tail chunk.
    append(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]);
    append(&[8.0, 9.0]);

    // An update of row 4 (same process, through the core).
    let mut update = request(dir.path(), Approach::Update);
    update.selection = Some(vec![AxisSelection::Indices(vec![4])]);
    save(&update, f64s(&[-8.0, -9.0], vec![1, 2])).unwrap();
    append(&[10.0, 11.0]);
    let (shape, values) = read(dir.path());
    assert_eq!(shape, vec![6, 2]);
    assert_eq!(&values[6..], &[6.0, 7.0, -8.0, -9.0, 10.0, 11.0]);

    // Row 6 starts chunk 2, which this process then holds decoded. Another writer
    // rewrites it in place (zarrs' own FilesystemStore keeps the file's inode).
    append(&[12.0, 13.0]);
    let store = Arc::new(FilesystemStore::new(dir.path()).unwrap());
    let array = Array::open(store, "/group/data").unwrap();
    array
        .store_array_subset(
            &zarrs::array::ArraySubset::new_with_start_shape(vec![6, 0], vec![1, 2]).unwrap(),
            &[60.0f64, 61.0][..],
        )
        .unwrap();
    append(&[14.0, 15.0]);
    let (shape, values) = read(dir.path());
    assert_eq!(shape, vec![8, 2]);
    assert_eq!(&values[12..], &[60.0, 61.0, 14.0, 15.0]);
}

fn reserve_request(dir: &std::path::Path, dataset: &str, rows: u64) -> ReserveRequest {
    ReserveRequest {
        destination: Destination::new(dir.display().to_string()),
        dataset: dataset.into(),
        rows,
        stored: true,
    }
}

#[test]
fn reserved_rows_read_as_fill_until_chunk_aligned_updates_fill_them() {
    let dir = tempfile::tempdir().unwrap();
    // 4 rows in chunks of 3: chunk row 1 holds row 3 only.
    let rows: Vec<f64> = (0..8).map(f64::from).collect();
    save(
        &request(dir.path(), Approach::Append),
        f64s(&rows, vec![4, 2]),
    )
    .unwrap();

    let described = reserve(&reserve_request(dir.path(), "group/data", 0)).unwrap();
    assert_eq!(described.start, 4);
    assert_eq!(described.shape, vec![4, 2]);
    assert_eq!(described.chunk_shape, vec![3, 2]);
    assert_eq!(described.stored_chunk_rows, Some(vec![0, 1]));

    // Grow by 5 rows: metadata only, no chunk written.
    let grown = reserve(&reserve_request(dir.path(), "group/data", 5)).unwrap();
    assert_eq!((grown.start, grown.shape.clone()), (4, vec![9, 2]));
    let (shape, values) = read(dir.path());
    assert_eq!(shape, vec![9, 2]);
    assert_eq!(&values[..8], &rows[..]);
    assert!(values[8..].iter().all(|&v| v == 0.0));
    let after = reserve(&reserve_request(dir.path(), "group/data", 0)).unwrap();
    assert_eq!(after.stored_chunk_rows, Some(vec![0, 1]));

    // Fill the last whole chunk (rows 6..9) with an update: its chunk row is stored now.
    let mut fill = request(dir.path(), Approach::Update);
    fill.selection = Some(vec![AxisSelection::Slice {
        start: Some(6),
        stop: Some(9),
        step: None,
    }]);
    save(&fill, f64s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], vec![3, 2])).unwrap();
    let filled = reserve(&reserve_request(dir.path(), "group/data", 0)).unwrap();
    assert_eq!(filled.stored_chunk_rows, Some(vec![0, 1, 2]));
    let (_, values) = read(dir.path());
    assert_eq!(&values[12..], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert!(values[8..12].iter().all(|&v| v == 0.0));
}

#[test]
fn reserving_in_a_missing_dataset_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let err = reserve(&reserve_request(dir.path(), "nothing/here", 3)).unwrap_err();
    assert!(matches!(err, SaveError::NotFound(_)), "{err:?}");
}
