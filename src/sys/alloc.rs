//! The C allocator's settings for the daemon, and giving its free memory back.
//!
//! glibc's defaults suit short programs, not a server that goes idle after a burst:
//! - each thread that allocates while another holds an arena's lock gets an arena of its own,
//!   up to 8 per core. Every arena keeps what its threads freed, so a burst of connection
//!   threads leaves up to 16 arenas here, each holding its high-water mark;
//! - a freed block that had been mmapped raises the mmap threshold to its size (up to
//!   32 MiB), and the trim threshold to twice that: after one 16 MiB message has come and
//!   gone, the next ones are carved out of an arena's heap instead, and stay there once freed
//!   (measured: 18 MB held by each of two arenas with 2 KiB in use, 52 MB in all);
//! - only the top of a heap is ever given back on `free`, so a long-lived block allocated
//!   after a burst pins everything freed below it.
//!
//! [`tune_allocator`] fixes the first two; [`release_free_memory`] undoes the third when the
//! daemon is quiet. Other C libraries (musl) have none of these knobs: both are no-ops there.

/// Arenas the daemon's threads share: one per core here. More arenas only help threads that
/// allocate at the same instant, and connection threads mostly wait on their sockets.
const ARENA_MAX: libc::c_int = 2;
/// Blocks this large or larger are mmapped, and unmapped again when freed (a message buffer,
/// a large reply). Fixed: glibc's default (128 KiB) moves up to the size of any mmapped block
/// freed, after which blocks of that size stay in the heaps.
const MMAP_THRESHOLD: libc::c_int = 256 * 1024;
/// Free memory at the top of a heap beyond this is given back on `free`. Fixed, for the same
/// reason.
const TRIM_THRESHOLD: libc::c_int = 512 * 1024;

/// Sets the allocator up for a long-running server: few arenas, and fixed mmap and trim
/// thresholds (fixing them turns off glibc's dynamic adjustment of both). Call before any
/// thread starts; on failure glibc keeps its defaults, which work, only with more memory.
pub fn tune_allocator() {
    #[cfg(target_env = "gnu")]
    for (param, value) in [
        (libc::M_ARENA_MAX, ARENA_MAX),
        (libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        (libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD),
    ] {
        // SAFETY: mallopt takes two integers and changes allocator parameters under the
        // allocator's own lock; it touches no memory of ours.
        if unsafe { libc::mallopt(param, value) } != 1 {
            log::debug!("mallopt({param}, {value}) was refused");
        }
    }
}

/// Gives the pages of every arena's free blocks back to the kernel (`malloc_trim(0)`), not
/// only the top of each heap. It walks every arena under its lock, so it belongs where the
/// daemon is quiet, not on a call's path.
pub fn release_free_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only reads and updates the allocator's own state, under its locks;
    // blocks in use are untouched.
    unsafe {
        libc::malloc_trim(0);
    }
}
