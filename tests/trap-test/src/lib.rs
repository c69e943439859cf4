//! A test component for `keyvalue-virt test` whose middle test traps: `passes` passes, `traps`
//! panics (which traps, and a trap ends the whole run), `never_runs` would pass. The CLI names
//! the test that trapped and says how many did not run (`compose/tests/test_command.rs`).

// Only a component: built natively (`cargo build --workspace`) the crate is empty, since the
// component's imports would not link.
#![cfg(target_arch = "wasm32")]

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/test",
        world: "keyvalue-virt:test/test-component@0.1.0",
        generate_all,
    });

    use super::Tests;
    export!(Tests);
}

use bindings::exports::keyvalue_virt::test::suite::{Guest, TestCase};
use bindings::keyvalue_virt::control::control;

/// Every test, in the order they run.
const TESTS: [&str; 3] = ["passes", "traps", "never_runs"];

struct Tests;

impl Guest for Tests {
    fn tests() -> Vec<TestCase> {
        TESTS
            .iter()
            .map(|name| TestCase {
                name: (*name).to_owned(),
                ignored: None,
            })
            .collect()
    }

    fn run(name: String) -> Result<(), String> {
        match name.as_str() {
            "traps" => panic!("the store is on fire"),
            _ => control::keys("")
                .map(drop)
                .map_err(|e| format!("control `keys` failed: {e:?}")),
        }
    }
}
