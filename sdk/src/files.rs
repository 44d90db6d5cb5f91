//! Files inside the directory roots the plugin was granted.
//!
//! A root is named by the grant (for example `mdatp-managed`), never by a host path. Paths are
//! relative to the root and `/`-separated; absolute paths, `..` and symlinks leading out of the
//! root are refused by the host.

use crate::CapabilityError;
use crate::imports::files as raw;

pub use crate::bindings::rampart::plugin::files::DirEntry;

/// Reads a whole file.
pub fn read(root: &str, path: &str) -> Result<Vec<u8>, CapabilityError> {
    raw::read(root, path)
}

/// Reads a whole file as UTF-8 text.
pub fn read_to_string(root: &str, path: &str) -> Result<String, CapabilityError> {
    let bytes = raw::read(root, path)?;
    String::from_utf8(bytes)
        .map_err(|_| CapabilityError::InvalidArgument(format!("'{path}' is not valid UTF-8")))
}

/// Replaces a file atomically (the host writes a temporary file and renames it).
pub fn write(root: &str, path: &str, contents: &[u8]) -> Result<(), CapabilityError> {
    raw::write(root, path, contents)
}

/// Writes `contents` unless the file already holds exactly them; returns whether it wrote.
pub fn ensure(root: &str, path: &str, contents: &[u8]) -> Result<bool, CapabilityError> {
    match raw::read(root, path) {
        Ok(current) if current == contents => Ok(false),
        Ok(_) | Err(CapabilityError::NotFound(_)) => {
            raw::write(root, path, contents).map(|()| true)
        }
        Err(e) => Err(e),
    }
}

/// Removes a file; returns whether it existed.
pub fn remove(root: &str, path: &str) -> Result<bool, CapabilityError> {
    raw::remove(root, path)
}

/// Lists a directory (`""` for the root), sorted by name.
pub fn list(root: &str, path: &str) -> Result<Vec<DirEntry>, CapabilityError> {
    raw::list_dir(root, path)
}
