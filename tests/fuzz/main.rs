//! Property tests of every decoder a client reaches (issue 10, "Tests"): arbitrary and
//! near-valid input never panics, errors are the spec's kinds, and no decode allocates
//! beyond a bound derived from its input size and configured limit.
//!
//! `PROPTEST_CASES` sets the cases per property (default 10,000); `scripts/fuzz` runs the
//! release build with a million.

mod alloc;
mod json;

mod body;
mod console;
mod envelope;
mod envelope_protobuf;
mod frame;
mod query;
mod token;

use std::cell::Cell;

use proptest::test_runner::{Config, FileFailurePersistence};

#[global_allocator]
static ALLOCATOR: alloc::CountingAllocator = alloc::CountingAllocator;

/// The run's configuration: `PROPTEST_CASES` cases (10,000 when unset), and failing seeds
/// kept in `tests/fuzz/proptest-regressions/<file>` to be replayed first on every run.
pub fn config(regressions: &'static str) -> Config {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    Config {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..Config::with_cases(cases)
    }
}

/// Where a module's failing seeds are kept.
#[macro_export]
macro_rules! regressions {
    ($name:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz/proptest-regressions/", $name, ".txt")
    };
}

thread_local! {
    static CASES: Cell<(&'static str, u64)> = const { Cell::new(("", 0)) };
}

/// Counts a case of `property`. The first case and every 10,000th are printed (kept out of
/// sight unless the test fails or runs with `--nocapture`), so that `scripts/fuzz` can tell a
/// property from a fixed test and how far a run cut short by its time cap got.
pub fn progress(property: &'static str) {
    CASES.with(|cases| {
        let (name, count) = cases.get();
        let count = if name == property { count + 1 } else { 1 };
        cases.set((property, count));
        if count == 1 || count % 10_000 == 0 {
            eprintln!("fuzz-progress {property} {count}");
        }
    });
}
