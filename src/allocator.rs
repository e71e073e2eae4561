//! The allocator of every program built on this crate (the binary, the benchmark, the tests):
//! mimalloc, built without transparent huge pages (Cargo.toml). Against glibc's malloc, the
//! benchmark's token rows ran 10 to 25 % faster (docs/benchmarks.md). With huge pages allowed,
//! an idle Passerelle held 35 MiB of anonymous memory in 2 MiB pages it had barely touched;
//! without them, 12.5 MiB.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
