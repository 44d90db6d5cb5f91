//! Locating the shared research data, and small helpers over it.

use std::path::{Path, PathBuf};

use rampart_policy::device::{Device, load_device_file};
use rampart_policy::graph::{PolicyDocument, load_policy_file};

/// The shared data directory, `<workspace>/../shared/data`.
///
/// # Panics
///
/// When the directory is missing: these tests exist to check rampart against real exports, so
/// a missing directory is a failed test, not a skipped one.
pub(crate) fn shared_data() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    assert!(
        dir.is_dir(),
        "shared test data is missing: expected the directory {} (the workspace's sibling \
         `shared/data`, holding intune-exports/ and the settings catalog seed). These tests read \
         real third-party data from there; it is never copied into the repository.",
        dir.display()
    );
    dir
}

/// The path of one Intune export.
pub(crate) fn export_path(name: &str) -> PathBuf {
    let path = shared_data().join("intune-exports").join(name);
    assert!(
        path.is_file(),
        "shared export {} is missing",
        path.display()
    );
    path
}

/// Parses one Intune export, failing the test with the parser's message.
pub(crate) fn load_export(name: &str) -> PolicyDocument {
    load_policy_file(&export_path(name)).unwrap_or_else(|error| panic!("{error}"))
}

/// Every `.json` file in `intune-exports/`, sorted.
pub(crate) fn all_exports() -> Vec<PathBuf> {
    let dir = shared_data().join("intune-exports");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .collect();
    files.sort();
    files
}

/// The repository's example devices (`examples/devices/*.toml`), by file name, sorted.
pub(crate) fn example_devices() -> Vec<(String, Device)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/devices");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", dir.display()))
        .map(|entry| entry.expect("readable directory entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let device = load_device_file(&path).unwrap_or_else(|error| panic!("{error}"));
            (name, device)
        })
        .collect()
}

/// One example device by file name.
pub(crate) fn example_device(name: &str) -> Device {
    example_devices()
        .into_iter()
        .find(|(file, _)| file == name)
        .map(|(_, device)| device)
        .unwrap_or_else(|| panic!("examples/devices/{name} is missing"))
}

/// Reads a CSV file with a header row into records keyed by column name. Handles quoted fields
/// (commas and doubled quotes inside quotes), which the shared tables use.
pub(crate) fn read_csv(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let mut rows = parse_csv(&text).into_iter();
    let header = rows.next().expect("a header row");
    rows.filter(|row| row.iter().any(|field| !field.is_empty()))
        .map(|row| header.iter().cloned().zip(row).collect())
        .collect()
}

fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}
