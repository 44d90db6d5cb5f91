//! [`RunArena`]: a bump allocator for plugins, made for rampart's one-instance-per-run model.
//!
//! The host instantiates a plugin afresh for every `apply` and discards the whole instance,
//! linear memory included, when the run ends. Memory a plugin frees is therefore never needed
//! again by a later run, and a general-purpose allocator's bookkeeping (free lists, splitting,
//! coalescing) is work that buys nothing. The arena hands out memory by moving a pointer
//! forward. It takes back only the topmost block, so the usual patterns (a `String` or `Vec`
//! that grows, a temporary freed right away, blocks freed in the reverse order of their
//! allocation) reuse their memory, and a growing topmost block is extended in place.
//!
//! Opt in from the plugin crate, for its WebAssembly build only:
//!
//! ```ignore
//! #[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
//! #[global_allocator]
//! static ALLOCATOR: rampart_sdk::arena::RunArena = rampart_sdk::arena::RunArena::new();
//! ```
//!
//! # Where the memory comes from
//!
//! The arena starts in a buffer of its own, [`DEFAULT_BUFFER`] bytes of the module's
//! zero-initialised data (`RunArena::<BYTES>` picks another size), so a typical run needs no
//! `memory.grow` at all. Measured on the windows-defender plugin, that matters: a run that
//! starts allocating in grown memory was 20 % slower than one that stays in the initial
//! memory, since wasmtime changes page protections for grown memory at every run. Past the
//! buffer it grows linear memory, at least 256 KiB at a time. It never touches the region
//! between the end of static data and the end of the initial memory: the WASI C library's own
//! `malloc`, which parts of the standard library may still call, owns that region.
//!
//! # When not to use it
//!
//! Everything a run allocates and frees out of order stays allocated until the run ends, so the
//! run's memory grows with the *total* it allocates rather than with what it holds at once. A
//! plugin whose allocation total per run can approach the run's memory cap (64 MiB by default;
//! the operator may set less), such as one that parses large files or loops over thousands of
//! items building strings, should keep the default allocator. A run that hits the cap stops
//! with a memory-limit error; nothing is lost or corrupted.
//!
//! The windows-defender plugin uses it: a run of a 30-setting policy allocates less than
//! 64 KiB in total (measured with a 64 KiB buffer: no run grew memory). BENCHMARKS.md in the
//! repository has what it saves.

#![cfg_attr(
    not(all(target_arch = "wasm32", not(target_feature = "atomics"))),
    allow(
        dead_code,
        reason = "the allocator exists on WebAssembly only; elsewhere the unit tests use its arithmetic"
    )
)]

/// The arena's pointer arithmetic, apart from where memory comes from: the WebAssembly
/// allocator supplies its buffer and then `memory.grow`, the unit tests a counter.
#[derive(Debug, Default)]
struct Bump {
    /// First free byte of the current chunk.
    next: usize,
    /// One past the last byte of the current chunk.
    end: usize,
}

/// WebAssembly page size.
const PAGE: usize = 64 << 10;

/// Smallest growth, in pages: a run that outgrows the buffer grows memory by at least this much
/// (256 KiB), so it rarely calls `memory.grow` again.
const MIN_GROW_PAGES: usize = 4;

/// Where new memory comes from: `grow(pages)` returns the address of `pages` new pages, which
/// follow the previous ones only if nothing else grew memory in between, or `None` when memory
/// cannot grow (the run's cap).
trait Pages {
    fn grow(&mut self, pages: usize) -> Option<usize>;
}

impl Bump {
    /// Allocates `size` bytes aligned to `align` (a power of two).
    fn alloc(&mut self, size: usize, align: usize, pages: &mut impl Pages) -> Option<usize> {
        let start = match align_up(self.next, align) {
            Some(start) if start.checked_add(size)? <= self.end && self.end != 0 => start,
            _ => {
                // Room for the worst alignment of a fresh chunk.
                self.grow(size.checked_add(align)?, pages)?;
                let start = align_up(self.next, align)?;
                if start.checked_add(size)? > self.end {
                    return None;
                }
                start
            }
        };
        self.next = start + size;
        Some(start)
    }

    /// Frees `ptr` (of `size` bytes). Only a block that ends where the free space begins (the
    /// topmost) is taken back, so blocks freed in the reverse order of their allocation are all
    /// reused; any other block stays allocated until the run ends.
    fn dealloc(&mut self, ptr: usize, size: usize) {
        if ptr.checked_add(size) == Some(self.next) {
            self.next = ptr;
        }
    }

    /// Resizes `ptr` from `old` to `new` bytes. `Ok(ptr)` when done in place; `Err(())` when
    /// the caller must allocate anew and copy.
    fn resize_in_place(
        &mut self,
        ptr: usize,
        old: usize,
        new: usize,
        pages: &mut impl Pages,
    ) -> Result<usize, ()> {
        if ptr.checked_add(old) != Some(self.next) {
            return Err(());
        }
        let new_end = ptr.checked_add(new).ok_or(())?;
        // New pages that do not follow the current chunk (someone else grew memory in between)
        // cannot extend this block; they become the next chunk and the caller copies into them.
        if new_end > self.end && !self.grow(new_end - self.end, pages).ok_or(())? {
            return Err(());
        }
        self.next = new_end;
        Ok(ptr)
    }

    /// Grows memory by at least `bytes` (and [`MIN_GROW_PAGES`]). New pages right after the
    /// current chunk extend it (`Some(true)`); others start a new chunk (`Some(false)`), the
    /// rest of the old one left unused. `None` when memory cannot grow.
    fn grow(&mut self, bytes: usize, pages: &mut impl Pages) -> Option<bool> {
        let wanted = bytes.div_ceil(PAGE).max(MIN_GROW_PAGES);
        let base = pages.grow(wanted)?;
        let grown_end = base.checked_add(wanted.checked_mul(PAGE)?)?;
        let contiguous = base == self.end && self.end != 0;
        if !contiguous {
            self.next = base;
        }
        self.end = grown_end;
        Some(contiguous)
    }
}

fn align_up(addr: usize, align: usize) -> Option<usize> {
    Some(addr.checked_add(align - 1)? & !(align - 1))
}

/// A bump allocator for one plugin run; see the [module documentation](self).
///
/// On WebAssembly (without threads) it implements [`GlobalAlloc`](core::alloc::GlobalAlloc);
/// on other targets the type exists so that code naming it compiles, but it is not an allocator
/// there: gate the `#[global_allocator]` item on `target_arch = "wasm32"`, as shown above, so
/// native builds and unit tests keep the system allocator.
pub struct RunArena<const BUFFER: usize = DEFAULT_BUFFER> {
    state: core::cell::UnsafeCell<Bump>,
    buffer: core::cell::UnsafeCell<Buffer<BUFFER>>,
}

/// The arena's first chunk, part of the module's zero-initialised data.
#[repr(C, align(16))]
struct Buffer<const N: usize>([u8; N]);

/// Bytes of [`RunArena`]'s built-in first chunk: twice what a 30-setting run of the
/// windows-defender plugin allocates in total.
pub const DEFAULT_BUFFER: usize = 128 << 10;

impl<const BUFFER: usize> core::fmt::Debug for RunArena<BUFFER> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RunArena")
            .field("buffer", &BUFFER)
            .finish_non_exhaustive()
    }
}

impl<const BUFFER: usize> RunArena<BUFFER> {
    /// An arena with its buffer of `BUFFER` bytes (part of the module's zero-initialised data,
    /// so it costs no file size); it starts using it at the first allocation.
    #[must_use]
    pub const fn new() -> Self {
        RunArena {
            state: core::cell::UnsafeCell::new(Bump { next: 0, end: 0 }),
            buffer: core::cell::UnsafeCell::new(Buffer([0; BUFFER])),
        }
    }
}

impl<const BUFFER: usize> Default for RunArena<BUFFER> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
mod wasm {
    use super::{Bump, PAGE, Pages, RunArena};
    use core::alloc::{GlobalAlloc, Layout};

    // SAFETY: WebAssembly without the atomics feature has one thread, so the arena's state is
    // never touched from two places at once.
    unsafe impl<const B: usize> Sync for RunArena<B> {}

    struct LinearMemory;

    impl Pages for LinearMemory {
        fn grow(&mut self, pages: usize) -> Option<usize> {
            let previous = core::arch::wasm32::memory_grow(0, pages);
            if previous == usize::MAX {
                return None;
            }
            previous.checked_mul(PAGE)
        }
    }

    impl<const B: usize> RunArena<B> {
        /// # Safety
        ///
        /// No other reference to the state may be live: true on one thread, and the
        /// allocator never calls back into itself.
        #[allow(clippy::mut_from_ref, reason = "single-threaded interior mutability")]
        unsafe fn bump(&self) -> &mut Bump {
            // SAFETY: see above.
            let bump = unsafe { &mut *self.state.get() };
            if bump.end == 0 {
                let start = self.buffer.get() as usize;
                bump.next = start;
                bump.end = start + B;
            }
            bump
        }
    }

    // SAFETY: every block handed out lies in linear memory obtained from `memory.grow` and not
    // handed out before (the bump pointer only moves past it, or back over the topmost block
    // once that block is freed), is aligned as asked, and null is returned when memory cannot
    // grow.
    unsafe impl<const B: usize> GlobalAlloc for RunArena<B> {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: single-threaded, not re-entered.
            let bump = unsafe { self.bump() };
            match bump.alloc(layout.size(), layout.align(), &mut LinearMemory) {
                Some(addr) => addr as *mut u8,
                None => core::ptr::null_mut(),
            }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: single-threaded, not re-entered.
            unsafe { self.bump() }.dealloc(ptr as usize, layout.size());
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: single-threaded, not re-entered.
            let bump = unsafe { self.bump() };
            if let Ok(addr) =
                bump.resize_in_place(ptr as usize, layout.size(), new_size, &mut LinearMemory)
            {
                return addr as *mut u8;
            }
            let Some(addr) = bump.alloc(new_size, layout.align(), &mut LinearMemory) else {
                return core::ptr::null_mut();
            };
            let new = addr as *mut u8;
            // SAFETY: both blocks are live and distinct (the new one was just taken past the
            // old one), each at least `min(old, new)` bytes long.
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Linear memory as addresses only: `memory` bytes exist, at most `cap`.
    struct Fake {
        memory: usize,
        cap: usize,
        grows: usize,
    }

    impl Fake {
        fn new(initial: usize, cap: usize) -> Self {
            Fake {
                memory: initial,
                cap,
                grows: 0,
            }
        }
    }

    impl Pages for Fake {
        fn grow(&mut self, pages: usize) -> Option<usize> {
            let base = self.memory;
            let memory = base + pages * PAGE;
            if memory > self.cap {
                return None;
            }
            self.memory = memory;
            self.grows += 1;
            Some(base)
        }
    }

    #[test]
    fn allocations_are_aligned_disjoint_and_come_only_from_grown_memory() {
        let initial = 17 * PAGE;
        let mut pages = Fake::new(initial, 64 << 20);
        let mut bump = Bump::default();
        let mut blocks = Vec::new();
        for (i, (size, align)) in [(1, 1), (24, 8), (3, 4), (100, 16), (7, 2), (40, 64)]
            .into_iter()
            .cycle()
            .take(600)
            .enumerate()
        {
            let addr = bump.alloc(size, align, &mut pages).expect("room");
            assert_eq!(addr % align, 0, "allocation {i} misaligned");
            assert!(addr >= initial, "took memory below the grown region");
            blocks.push((addr, size));
        }
        blocks.sort_unstable();
        for pair in blocks.windows(2) {
            assert!(pair[0].0 + pair[0].1 <= pair[1].0, "overlap: {pair:?}");
        }
        assert_eq!(pages.grows, 1, "600 small blocks fit the first growth");
    }

    #[test]
    fn only_topmost_blocks_are_reused_after_a_free() {
        let mut pages = Fake::new(PAGE, 64 << 20);
        let mut bump = Bump::default();
        let a = bump.alloc(32, 8, &mut pages).unwrap();
        let b = bump.alloc(32, 8, &mut pages).unwrap();
        bump.dealloc(a, 32); // below `b`: stays allocated
        let c = bump.alloc(32, 8, &mut pages).unwrap();
        assert!(c > b);
        let d = bump.alloc(16, 8, &mut pages).unwrap();
        // Freed in reverse order, both are taken back.
        bump.dealloc(d, 16);
        bump.dealloc(c, 32);
        assert_eq!(bump.alloc(32, 8, &mut pages), Some(c));
        // `a` was never taken back: nothing is handed out twice.
        assert!(bump.alloc(8, 8, &mut pages).unwrap() > c);
    }

    #[test]
    fn the_latest_block_grows_and_shrinks_in_place_even_across_a_memory_grow() {
        let mut pages = Fake::new(PAGE, 64 << 20);
        let mut bump = Bump::default();
        let a = bump.alloc(16, 8, &mut pages).unwrap();
        assert_eq!(bump.resize_in_place(a, 16, 1000, &mut pages), Ok(a));
        assert_eq!(bump.resize_in_place(a, 1000, 10, &mut pages), Ok(a));
        let big = MIN_GROW_PAGES * PAGE * 3;
        assert_eq!(bump.resize_in_place(a, 10, big, &mut pages), Ok(a));
        assert_eq!(pages.grows, 2);
        let next = bump.alloc(1, 1, &mut pages).unwrap();
        assert!(next >= a + big, "the grown block was handed out again");
        // An older block moves.
        assert_eq!(bump.resize_in_place(a, big, big + 1, &mut pages), Err(()));
    }

    #[test]
    fn memory_grown_by_someone_else_is_never_treated_as_contiguous() {
        let mut pages = Fake::new(PAGE, 64 << 20);
        let mut bump = Bump::default();
        let a = bump.alloc(16, 8, &mut pages).unwrap();
        let end_of_chunk = bump.end;
        pages.memory += PAGE; // the C library's malloc took a page
        assert_eq!(
            bump.resize_in_place(a, 16, end_of_chunk - a + 1, &mut pages),
            Err(())
        );
        let b = bump
            .alloc(end_of_chunk - a + 1, 8, &mut pages)
            .expect("copy target");
        assert!(
            b >= end_of_chunk + PAGE,
            "reused the other allocator's page"
        );
    }

    #[test]
    fn exhausted_or_absurd_requests_fail_instead_of_wrapping() {
        let mut pages = Fake::new(PAGE, 2 * MIN_GROW_PAGES * PAGE);
        let mut bump = Bump::default();
        assert!(bump.alloc(10, 8, &mut pages).is_some());
        assert_eq!(bump.alloc(usize::MAX - 4, 8, &mut pages), None);
        assert_eq!(bump.alloc(3 * MIN_GROW_PAGES * PAGE, 8, &mut pages), None);
        let mut full = Fake::new(PAGE, PAGE);
        let mut near_top = Bump {
            next: usize::MAX - 8,
            end: usize::MAX,
        };
        assert_eq!(near_top.alloc(4, 64, &mut full), None);
        assert_eq!(near_top.alloc(16, 1, &mut full), None);
    }
}
