//! The allocator of every program built on this crate (the binary, the benchmark, the tests):
//! mimalloc, built without transparent huge pages (Cargo.toml) and told to give freed memory
//! back at once. Against glibc's malloc, the benchmark's token rows ran 10 to 25 % faster
//! (docs/benchmarks.md). With huge pages, or with mimalloc's default purge delay of a second (which a
//! thread gone idle never reaches), an idle demo held 33 MiB of anonymous memory; with both
//! settings, 13.5 MiB.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The number of `mi_option_purge_delay` in the mimalloc.h that libmimalloc-sys builds (v3),
/// which its Rust constants do not name (the test below checks it by its default).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the system at once. Called first thing by the command line.
pub fn configure() {
    // SAFETY: mi_option_set stores an integer in mimalloc's option table; it has no
    // precondition and may be called at any time (mimalloc.h).
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}

#[cfg(test)]
mod tests {
    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: mi_option_get only reads the option table.
        unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) }
    }

    #[test]
    fn the_option_number_names_the_purge_delay() {
        // mimalloc's default (1000 ms, options.c) tells that the number is this option.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay(), 1000);
        }
        super::configure();
        assert_eq!(purge_delay(), 0);
    }
}
