//! Listing the keys of a local container.

use super::platform::LOCK_PREFIX;
use super::temp::TEMP_PREFIX;

/// Every file under `dir` whose name `wanted` accepts (temp names, lock files and
/// links never),
/// as keys relative to the container's root (`prefix`: `dir`'s own key and `/`).
pub(super) fn walk(
    dir: &std::path::Path,
    prefix: &str,
    wanted: &dyn Fn(&str) -> bool,
    out: &mut Vec<String>,
) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with(TEMP_PREFIX) || name.starts_with(LOCK_PREFIX) {
            continue;
        }
        let kind = entry.file_type()?;
        let key = format!("{prefix}{name}");
        if kind.is_dir() {
            walk(&entry.path(), &format!("{key}/"), wanted, out)?;
        } else if kind.is_file() && wanted(&name) {
            out.push(key);
        }
    }
    Ok(())
}
