//! The apps of `tests/guests` that are not the conformance suite (which has `conformance.rs`):
//! both drafts in one app, and the README's example.

use keyvalue_virt_harness::{App, run_ok};

/// Both drafts in one app read and write the same data.
#[test]
fn drafts_share_one_store() {
    let outcome = run_ok(App::Both, &["shared"]);
    assert_eq!(outcome.stdout.trim(), "ok shared");
}

/// The README's example app prints the counts it is asked for.
#[test]
fn counter_example_counts_names() {
    let outcome = run_ok(App::Counter, &["alice", "bob", "alice"]);
    assert_eq!(
        outcome.stdout,
        "hello alice: visit 1\nhello bob: visit 1\nhello alice: visit 2\nalice: 2\nbob: 1\n"
    );
}
