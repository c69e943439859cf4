//! Composes a test component with an app plugged with the control build, and the runner, into
//! one `wasi:cli` command (what `keyvalue-virt test` runs).
//!
//! The test component exports [`SUITE_INTERFACE`] and imports the app's own exports and the
//! control interface; the runner ([`keyvalue_virt_artifacts::TEST_RUNNER`]) imports the suite
//! and the control interface, and exports `wasi:cli/run`. All three share one instance of the
//! plugged app, so what a test seeds through control is what the app reads:
//!
//! ```text
//!   runner ──suite──▶ test component ──app's interfaces, control──▶ plugged app
//!      └──────────────────────control (reset before each test)───────────┘
//! ```
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use keyvalue_virt_compose::{Shape, control_virt_in, plug_control, suite};
//! let app = std::fs::read("greeter.wasm")?;
//! let plugged = plug_control(&app, control_virt_in(Shape::Draft2))?;
//! let command = suite::compose(&std::fs::read("greeter_test.wasm")?, &plugged)?;
//! std::fs::write("tests.wasm", command)?; // then: wasmtime run tests.wasm
//! # Ok(())
//! # }
//! ```

use thiserror::Error;
use wac_graph::CompositionGraph;

use crate::CONTROL_INTERFACE;
use crate::wiring::{self, WiringError};

/// The interface a test component exports: its tests and a way to run one
/// (`wit/test/test.wit`).
pub const SUITE_INTERFACE: &str = "keyvalue-virt:test/suite@0.1.0";

/// The prefix of the `wasi:cli/run` interface the runner exports.
const RUN_PREFIX: &str = "wasi:cli/run@";

/// Which of the three parts of the composition an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The test component.
    Test,
    /// The app, plugged with keyvalue-virt's control build.
    App,
    /// The runner that keyvalue-virt ships.
    Runner,
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Part::Test => "test component",
            Part::App => "plugged app",
            Part::Runner => "runner",
        })
    }
}

/// An error from [`compose`].
#[derive(Debug, Error)]
pub enum SuiteError {
    /// A step of the composition failed: parsing or registering a part, wiring an export to
    /// an import (typically the test was built against another version of an interface),
    /// exporting, encoding.
    #[error(transparent)]
    Wiring(#[from] WiringError<Part>),
    /// The test component does not export the suite interface.
    #[error(
        "the test component does not export `{SUITE_INTERFACE}`; a test component exports its \
         tests through it (its world includes `keyvalue-virt:test/test-component@0.1.0`, see \
         `wit/test/test.wit`); it exports: {}",
        crate::backticked(exports)
    )]
    NoSuite {
        /// What the test component exports.
        exports: Vec<String>,
    },
    /// The plugged app does not export the control interface.
    #[error(
        "the plugged app does not export `{CONTROL_INTERFACE}`; plug it with the control build \
         (`plug_control`, or `keyvalue-virt plug --control`)"
    )]
    NoControl,
    /// The test component imports interfaces that are neither WASI nor exported by the app.
    #[error(
        "the test component imports {}, which the app does not export; the app exports: {}",
        crate::backticked(missing),
        crate::backticked(available)
    )]
    MissingImports {
        /// The test component's imports nobody provides.
        missing: Vec<String>,
        /// What the plugged app exports.
        available: Vec<String>,
    },
    /// The runner exports no `wasi:cli/run` (a bug in keyvalue-virt).
    #[error("the runner exports no `wasi:cli/run`; this is a bug in keyvalue-virt")]
    NoRun,
}

/// Composes `test` (a test component) with `plugged` (an app plugged with the control build:
/// [`crate::plug_control`]) and the runner [`keyvalue_virt_artifacts::TEST_RUNNER`], and
/// returns a `wasi:cli` command that runs the tests (`--help` lists its options).
///
/// Every import of `test` that `plugged` exports is satisfied by it (the app's interfaces and
/// the control interface); its other `wasi:` imports, and every import of `plugged`, stay
/// imports of the result for the runtime to provide.
///
/// # Errors
///
/// [`SuiteError::NoSuite`] for a `test` without the suite export, [`SuiteError::NoControl`]
/// for an app plugged without control, [`SuiteError::MissingImports`] for a `test` that imports
/// non-WASI interfaces the app does not export, and type mismatches between them.
pub fn compose(test: &[u8], plugged: &[u8]) -> Result<Vec<u8>, SuiteError> {
    compose_with_runner(test, plugged, keyvalue_virt_artifacts::TEST_RUNNER)
}

fn compose_with_runner(test: &[u8], plugged: &[u8], runner: &[u8]) -> Result<Vec<u8>, SuiteError> {
    let mut graph = CompositionGraph::new();
    let test = wiring::register(&mut graph, Part::Test, "keyvalue-virt:test-component", test)?;
    let app = wiring::register(&mut graph, Part::App, "keyvalue-virt:plugged-app", plugged)?;
    let runner = wiring::register(
        &mut graph,
        Part::Runner,
        "keyvalue-virt:test-runner",
        runner,
    )?;

    let test_world = &graph.types()[graph[test].ty()];
    let app_world = &graph.types()[graph[app].ty()];
    let runner_world = &graph.types()[graph[runner].ty()];
    let test_imports: Vec<String> = test_world.imports.keys().cloned().collect();
    let test_exports: Vec<String> = test_world.exports.keys().cloned().collect();
    let app_exports: Vec<String> = app_world.exports.keys().cloned().collect();
    let runner_imports: Vec<String> = runner_world.imports.keys().cloned().collect();
    let run = runner_world
        .exports
        .keys()
        .find(|name| name.starts_with(RUN_PREFIX))
        .cloned()
        .ok_or(SuiteError::NoRun)?;

    if !test_exports.iter().any(|name| name == SUITE_INTERFACE) {
        return Err(SuiteError::NoSuite {
            exports: test_exports,
        });
    }
    if !app_exports.iter().any(|name| name == CONTROL_INTERFACE) {
        return Err(SuiteError::NoControl);
    }
    let missing: Vec<String> = test_imports
        .iter()
        .filter(|name| !name.starts_with("wasi:") && !app_exports.contains(name))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(SuiteError::MissingImports {
            missing,
            available: app_exports,
        });
    }

    let app_instance = graph.instantiate(app);
    let test_instance = graph.instantiate(test);
    let runner_instance = graph.instantiate(runner);
    for name in test_imports
        .iter()
        .filter(|name| app_exports.contains(name))
    {
        wiring::wire(
            &mut graph,
            (app_instance, Part::App),
            (test_instance, Part::Test),
            name,
        )?;
    }
    for name in &runner_imports {
        let from = if name == SUITE_INTERFACE {
            (test_instance, Part::Test)
        } else if app_exports.contains(name) {
            (app_instance, Part::App)
        } else {
            continue;
        };
        wiring::wire(&mut graph, from, (runner_instance, Part::Runner), name)?;
    }
    wiring::re_export(&mut graph, runner_instance, Part::Runner, &run)?;
    Ok(wiring::encode(&graph)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plugged app exporting `exports`.
    fn plugged(exports: &[&str]) -> Vec<u8> {
        instances(exports, &[])
    }

    /// A component that exports instances named `exports` and imports instances named
    /// `imports`, each with one function `f`.
    fn instances(exports: &[&str], imports: &[&str]) -> Vec<u8> {
        let imports: String = imports
            .iter()
            .map(|name| format!("(import \"{name}\" (instance (export \"f\" (func))))\n"))
            .collect();
        let body: String = exports
            .iter()
            .enumerate()
            .map(|(i, name)| {
                format!(
                    "(func $f{i} (canon lift (core func $i \"f\")))
                     (instance $e{i} (export \"f\" (func $f{i})))
                     (export \"{name}\" (instance $e{i}))\n"
                )
            })
            .collect();
        wat::parse_str(format!(
            r#"(component {imports}
                (core module $m (func (export "f")))
                (core instance $i (instantiate $m))
                {body})"#
        ))
        .unwrap()
    }

    /// A test component importing `imports` and exporting the suite (as a one-function
    /// instance; enough for the graph, which checks names and the types of what is wired).
    fn test_component(imports: &[&str]) -> Vec<u8> {
        instances(&[SUITE_INTERFACE], imports)
    }

    /// A runner importing the suite and control, exporting `wasi:cli/run`.
    fn runner() -> Vec<u8> {
        wat::parse_str(format!(
            r#"(component
                (import "{SUITE_INTERFACE}" (instance $s (export "f" (func))))
                (import "{CONTROL_INTERFACE}" (instance $c (export "f" (func))))
                (export "wasi:cli/run@0.2.0" (instance $s))
            )"#
        ))
        .unwrap()
    }

    #[test]
    fn the_test_is_wired_to_the_app_and_the_runner_to_both() {
        let test = test_component(&[
            CONTROL_INTERFACE,
            "example:app/api",
            "wasi:cli/stdout@0.2.0",
        ]);
        let app = plugged(&[CONTROL_INTERFACE, "example:app/api"]);
        let composed = compose_with_runner(&test, &app, &runner()).unwrap();
        assert_eq!(crate::exports(&composed).unwrap(), ["wasi:cli/run@0.2.0"]);
        // Only the WASI import is left for the runtime.
        assert_eq!(
            crate::imports(&composed).unwrap(),
            ["wasi:cli/stdout@0.2.0"]
        );
    }

    #[test]
    fn a_test_without_the_suite_is_refused() {
        let test = instances(&["example:other/thing"], &[]);
        let app = plugged(&[CONTROL_INTERFACE]);
        let err = compose_with_runner(&test, &app, &runner()).unwrap_err();
        assert!(matches!(err, SuiteError::NoSuite { .. }), "{err}");
        assert!(err.to_string().contains("`example:other/thing`"), "{err}");
    }

    #[test]
    fn an_app_without_control_is_refused() {
        let test = test_component(&[CONTROL_INTERFACE]);
        let err =
            compose_with_runner(&test, &plugged(&["example:app/api"]), &runner()).unwrap_err();
        assert!(matches!(err, SuiteError::NoControl), "{err}");
        assert!(err.to_string().contains("--control"), "{err}");
    }

    #[test]
    fn an_import_of_another_type_names_both_parts() {
        let test = wat::parse_str(format!(
            r#"(component
                (import "example:app/api" (instance (export "f" (func (result u32)))))
                (core module $m (func (export "f")))
                (core instance $i (instantiate $m))
                (func $f (canon lift (core func $i "f")))
                (instance $e (export "f" (func $f)))
                (export "{SUITE_INTERFACE}" (instance $e))
            )"#
        ))
        .unwrap();
        let app = plugged(&[CONTROL_INTERFACE, "example:app/api"]);
        let err = compose_with_runner(&test, &app, &runner()).unwrap_err();
        assert!(
            matches!(&err, SuiteError::Wiring(WiringError::Wire { from: Part::App, to: Part::Test, name, .. }) if name == "example:app/api"),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "failed to plug the plugged app's export `example:app/api` into the test \
             component's import of the same name"
        );
    }

    #[test]
    fn imports_the_app_lacks_are_named() {
        let test = test_component(&[CONTROL_INTERFACE, "example:app/other"]);
        let app = plugged(&[CONTROL_INTERFACE, "example:app/api"]);
        let err = compose_with_runner(&test, &app, &runner()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the test component imports `example:app/other`, which the app does not export; \
                 the app exports: `{CONTROL_INTERFACE}`, `example:app/api`"
            )
        );
    }
}
