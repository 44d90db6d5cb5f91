//! The global allocator of rampart's agent and of its benchmarks: [mimalloc], with two of its
//! defaults changed so the agent keeps the footprint it has on the system allocator.
//!
//! Why mimalloc: every host call of a plugin lifts the strings the guest passes into new host
//! strings and frees them on return, and wasmtime allocates a store and an instance for every
//! run. With glibc's allocator, `malloc` and `free` are about 7 % of a plugin run; with
//! mimalloc a 30-setting run is about 5 % faster (BENCHMARKS.md, "Measured choices").
//!
//! Why tuned: mimalloc's defaults trade memory for speed. On Linux its arenas are committed
//! eagerly and backed by transparent huge pages, so touching one byte can make 2 MiB resident,
//! and it keeps freed pages for a second before returning them. On those defaults the benchmark
//! suite's peak RSS is 117 MiB, against 36 MiB on glibc. Built without transparent huge pages
//! (the `no_thp` feature of `libmimalloc-sys`, set in the workspace) and with [`tune`], it is
//! 35–38 MiB at the same speed. An agent runs on every endpoint, so footprint wins.
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOCATOR: rampart_alloc::Allocator = rampart_alloc::Allocator;
//!
//! fn main() {
//!     rampart_alloc::tune();
//!     // ...
//! }
//! ```
//!
//! A library embedding rampart chooses its own allocator; this crate is for binaries.
//!
//! [mimalloc]: https://github.com/microsoft/mimalloc

use libmimalloc_sys::{mi_option_set_default, mi_option_t};

/// The allocator to install with `#[global_allocator]`.
pub use mimalloc::MiMalloc as Allocator;

/// `mi_option_purge_delay` in `mimalloc.h`: milliseconds before freed pages go back to the OS
/// (default 1000). The Rust binding leaves this option out; a unit test checks the number
/// against the header mimalloc was built from.
const PURGE_DELAY: mi_option_t = 15;

/// Sets mimalloc to return freed pages to the OS at once instead of after a second. If the
/// operator set `MIMALLOC_PURGE_DELAY` in the environment, that value stays.
///
/// Call it first thing in `main`, before other threads start: mimalloc's options are not
/// thread-safe.
pub fn tune() {
    // SAFETY: only writes mimalloc's option table, with an option number in range (checked
    // against the header by a test); the caller runs this before other threads exist, as
    // documented.
    unsafe { mi_option_set_default(PURGE_DELAY, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of `mi_option_t`'s members in declaration order, from `mimalloc.h`.
    fn header_options() -> Vec<String> {
        let dir = env!("RAMPART_MIMALLOC_INCLUDE_DIR");
        let header = std::fs::read_to_string(std::path::Path::new(dir).join("mimalloc.h"))
            .expect("mimalloc.h is readable");
        let start = header
            .find("typedef enum mi_option_e {")
            .expect("mimalloc.h declares mi_option_t");
        let body = &header[start..];
        let body = &body[body.find('{').unwrap() + 1..body.find("} mi_option_t;").unwrap()];
        body.lines()
            .map(|line| line.split("//").next().unwrap_or("").trim())
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .take_while(|name| *name != "_mi_option_last")
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn the_option_number_matches_the_header_mimalloc_was_built_from() {
        let options = header_options();
        let position = |name: &str| {
            options
                .iter()
                .position(|o| o == name)
                .unwrap_or_else(|| panic!("{name} is not in mimalloc.h: {options:?}"))
        };
        assert_eq!(position("mi_option_purge_delay"), PURGE_DELAY as usize);
        // The header also names options the binding does export: the parse counts right.
        assert_eq!(
            position("mi_option_reserve_os_memory"),
            libmimalloc_sys::mi_option_reserve_os_memory as usize
        );
        assert_eq!(
            position("mi_option_use_numa_nodes"),
            libmimalloc_sys::mi_option_use_numa_nodes as usize
        );
    }

    #[test]
    fn tune_returns_freed_pages_at_once_unless_the_environment_says_otherwise() {
        tune();
        // SAFETY: reads mimalloc's option table with an in-range option number.
        let purge_delay = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay, 0);
        }
    }
}
