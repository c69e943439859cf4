//! The example test component in Rust: tests of the greeter app (`tests/greeter`), run with
//! `keyvalue-virt test greeter_test.wasm --app greeter.wasm`. Each test seeds the store through
//! the control interface, calls the app's own export (`example:greeter/greeter`), and checks
//! the data and the app's calls; one injects a fault. The runner resets the store before each.
//!
//! A test returns `Err(message)` to fail, never panics: a panic traps, and a trap ends the
//! whole run. `fails_on_purpose` is ignored unless named (`--only fails_on_purpose`): it shows
//! what a failure looks like.

// Only a component: built natively (`cargo build --workspace`) the crate is empty, since the
// component's imports would not link.
#![cfg(target_arch = "wasm32")]

mod bindings {
    wit_bindgen::generate!({
        path: [
            "../../wit/deps/keyvalue-0.2.0-draft2",
            "../../wit/test",
            "../greeter/wit",
        ],
        world: "example:greeter/greeter-test@0.1.0",
        generate_all,
    });

    use super::Tests;
    export!(Tests);
}

use bindings::example::greeter::greeter;
use bindings::exports::keyvalue_virt::test::suite::{Guest, TestCase};
use bindings::keyvalue_virt::control::control::{self, Error, Fault, Op, Outcome};

/// Fails the test with a message unless `condition` holds.
macro_rules! check {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(format!($($message)+));
        }
    };
}

/// One test: its name, why it is ignored (if it is), and its body.
type Test = (
    &'static str,
    Option<&'static str>,
    fn() -> Result<(), String>,
);

/// Every test, in the order they run.
const TESTS: [Test; 4] = [
    ("greets_and_counts", None, greets_and_counts),
    (
        "every_test_starts_from_the_seeds",
        None,
        starts_from_the_seeds,
    ),
    ("a_failed_increment_keeps_the_count", None, failed_increment),
    (
        "fails_on_purpose",
        Some("fails on purpose, to show a failure; run it with --only fails_on_purpose"),
        fails_on_purpose,
    ),
];

struct Tests;

impl Guest for Tests {
    fn tests() -> Vec<TestCase> {
        TESTS
            .iter()
            .map(|(name, ignored, _)| TestCase {
                name: (*name).to_owned(),
                ignored: ignored.map(str::to_owned),
            })
            .collect()
    }

    fn run(name: String) -> Result<(), String> {
        match TESTS.iter().find(|(test, _, _)| *test == name) {
            Some((_, _, body)) => body(),
            None => Err(format!("no test named `{name}`")),
        }
    }
}

/// Seed a count, greet, and find the new count in the store and one `increment` in the log.
fn greets_and_counts() -> Result<(), String> {
    control::set("", "alice", b"41").map_err(|e| shown(&e))?;
    let greeting = greeter::greet("alice")?;
    check!(
        greeting == "hello alice: visit 42",
        "expected `hello alice: visit 42`, got `{greeting}`"
    );
    let stored = control::get("", "alice").map_err(|e| shown(&e))?;
    check!(
        stored.as_deref() == Some(&b"42"[..]),
        "expected 42 stored under `alice`, found {stored:?}"
    );
    let increments = calls(Op::Increment, "alice");
    check!(
        increments.len() == 1 && matches!(increments[..], [Outcome::Number(42)]),
        "expected one `increment` of `alice` answering 42, saw {increments:?}"
    );
    Ok(())
}

/// The test before this one stored `alice`; the runner's reset removed it.
fn starts_from_the_seeds() -> Result<(), String> {
    let keys = control::keys("").map_err(|e| shown(&e))?;
    check!(
        keys.is_empty(),
        "expected an empty store, found keys {keys:?}"
    );
    let greeting = greeter::greet("bob")?;
    check!(
        greeting == "hello bob: visit 1",
        "expected `hello bob: visit 1`, got `{greeting}`"
    );
    let keys = control::keys("").map_err(|e| shown(&e))?;
    check!(
        keys == ["bob"],
        "expected only `bob` stored, found {keys:?}"
    );
    Ok(())
}

/// The `increment` of `alice` fails: the app answers the error, the count stays, and others
/// are still counted.
fn failed_increment() -> Result<(), String> {
    control::set("", "alice", b"42").map_err(|e| shown(&e))?;
    control::add_fault(&Fault {
        op: Op::Increment,
        error: Error::Other("disk on fire".to_owned()),
        nth: None,
        bucket: None,
        key: Some("alice".to_owned()),
    })?;
    match greeter::greet("alice") {
        Err(message) => check!(
            message.contains("`alice`") && message.contains("disk on fire"),
            "expected an error naming `alice` and the fault, got `{message}`"
        ),
        Ok(greeting) => return Err(format!("expected the greeting to fail, got `{greeting}`")),
    }
    let stored = control::get("", "alice").map_err(|e| shown(&e))?;
    check!(
        stored.as_deref() == Some(&b"42"[..]),
        "expected the count of `alice` to stay 42, found {stored:?}"
    );
    let visits = greeter::visits("alice")?;
    check!(visits == 42, "expected 42 visits of `alice`, got {visits}");
    let greeting = greeter::greet("bob")?;
    check!(
        greeting == "hello bob: visit 1",
        "the fault names `alice` only, yet `bob` got `{greeting}`"
    );
    let failed = calls(Op::Increment, "alice");
    check!(
        matches!(&failed[..], [Outcome::Failed(Error::Other(m))] if m == "disk on fire"),
        "expected one failed `increment` of `alice` in the log, saw {failed:?}"
    );
    Ok(())
}

/// Expects a second visit on a fresh store: fails, and says what it saw.
fn fails_on_purpose() -> Result<(), String> {
    let greeting = greeter::greet("carol")?;
    check!(
        greeting == "hello carol: visit 2",
        "expected `hello carol: visit 2`, got `{greeting}`"
    );
    Ok(())
}

/// The outcomes of the app's calls of `op` naming `key`, oldest first.
fn calls(op: Op, key: &str) -> Vec<Outcome> {
    control::log()
        .calls
        .into_iter()
        .filter(|call| call.op == op && call.keys.iter().any(|k| k == key))
        .map(|call| call.outcome)
        .collect()
}

/// A control error for a message.
fn shown(error: &Error) -> String {
    format!("control call failed: {error:?}")
}
