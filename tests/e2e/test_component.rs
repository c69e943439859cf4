//! The tests `keyvalue-virt test` composes, on jco: the greeter app (`tests/greeter`) plugged
//! with the control build and composed in-process (`keyvalue_virt_compose::suite::compose`)
//! with its Rust test component (`tests/greeter-test`) and the runner. The tests pass, and the
//! one that fails on purpose prints its `FAIL` line and exits 1, as on `wasmtime run` (which
//! `compose/tests/test_command.rs` runs through the real CLI, with the Python test component
//! too).

use std::path::Path;

use keyvalue_virt_artifacts::guests::{GREETER, GREETER_TEST};
use keyvalue_virt_compose::{Shape, control_virt_in, plug_control, suite};
use keyvalue_virt_harness::read;

use crate::jco::{jco_run, transpiled};

/// The composed tests, as `keyvalue-virt test -o` writes them with no options.
fn composed_tests() -> Vec<u8> {
    let plugged = plug_control(&read(Path::new(GREETER)), control_virt_in(Shape::Draft2))
        .expect("the greeter plugs with the control build");
    suite::compose(&read(Path::new(GREETER_TEST)), &plugged)
        .expect("the greeter's tests compose with it")
}

#[test]
fn the_composed_tests_run_on_jco() {
    let module = transpiled("greeter-tests", composed_tests);
    let all = jco_run(&module, &[], None);
    assert_eq!(
        (
            all.status.code(),
            String::from_utf8_lossy(&all.stdout).as_ref()
        ),
        (
            Some(0),
            "ok greets_and_counts\n\
             ok every_test_starts_from_the_seeds\n\
             ok a_failed_increment_keeps_the_count\n\
             skip fails_on_purpose: fails on purpose, to show a failure; run it with --only \
             fails_on_purpose\n\
             3 passed, 0 failed, 1 skipped\n"
        ),
        "{all:?}"
    );
    let failed = jco_run(&module, &["--only", "fails_on_purpose"], None);
    assert_eq!(
        (
            failed.status.code(),
            String::from_utf8_lossy(&failed.stdout).as_ref()
        ),
        (
            Some(1),
            "FAIL fails_on_purpose: expected `hello carol: visit 2`, got `hello carol: visit 1`\n\
             0 passed, 1 failed, 0 skipped\n"
        ),
        "{failed:?}"
    );
}
