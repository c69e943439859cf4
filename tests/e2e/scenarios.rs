//! One test per guest scenario and draft: the app, plugged with the virt, runs the scenario
//! named like the test and must succeed.

use keyvalue_virt_harness::{App, run, run_ok};

/// For each scenario of [`keyvalue_virt_artifacts::for_each_scenario`], a test in `draft`,
/// `draft2` and `draft2_spin` (the draft2-only ones in the last two alone) that runs it; the
/// test `odd_keys` runs the scenario `odd-keys`.
macro_rules! scenario_tests {
    (both: [$($both:ident),* $(,)?], draft2_only: [$($only:ident),* $(,)?] $(,)?) => {
        mod draft {
            $(
                #[test]
                fn $both() {
                    super::run_scenario(super::App::Draft, stringify!($both));
                }
            )*
        }
        mod draft2 {
            $(
                #[test]
                fn $both() {
                    super::run_scenario(super::App::Draft2, stringify!($both));
                }
            )*
            $(
                #[test]
                fn $only() {
                    super::run_scenario(super::App::Draft2, stringify!($only));
                }
            )*
        }
        mod draft2_spin {
            $(
                #[test]
                fn $both() {
                    super::run_scenario(super::App::Draft2Spin, stringify!($both));
                }
            )*
            $(
                #[test]
                fn $only() {
                    super::run_scenario(super::App::Draft2Spin, stringify!($only));
                }
            )*
        }
    };
}

keyvalue_virt_artifacts::for_each_scenario!(scenario_tests);

/// The draft app has no `cas` scenario: the name must be refused, not silently pass.
#[test]
fn draft_has_no_cas() {
    run(App::Draft, &["cas"]).assert_failed();
}

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

/// Runs the scenario a test is named after (`odd_keys` runs `odd-keys`); panics if it fails.
#[track_caller]
fn run_scenario(app: App, test_name: &str) {
    let scenario = test_name.replace('_', "-");
    let outcome = run_ok(app, &[&scenario]);
    assert_eq!(
        outcome.stdout.lines().last(),
        Some(format!("ok {scenario}").as_str())
    );
}

/// The harness must report a guest panic as a failure, with the panic message from stderr.
#[test]
fn unknown_scenario_fails() {
    for app in App::DRAFTS {
        let outcome = run(app, &["no-such-scenario"]).assert_failed();
        assert!(
            outcome
                .stderr
                .contains("unknown scenario `no-such-scenario`"),
            "unexpected stderr from `{}`: {}",
            app.name(),
            outcome.stderr
        );
    }
}
