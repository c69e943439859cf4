//! An app from another language's toolchain: `tests/python/counter.py`, built into a
//! component by componentize-py (PyPI; installed by `.ci/setup`) against draft2 in the shape
//! Spin ships (upstream's open PR #55), plugged by the library as `keyvalue-virt plug` does
//! (which must pick the `draft2-spin` build by itself), and run in wasmtime embedded, on the
//! `wasmtime run` CLI and on jco. It is built, plugged and transpiled once per test run (the
//! component is about 18 MB).
//!
//! componentize-py needs the WASI WIT next to the app's; the test takes it from the
//! `wasmtime-wasi` crate this workspace already depends on (its `src/p2/wit/deps`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use keyvalue_virt_artifacts::python;
use keyvalue_virt_compose::{Shape, shape_for};
use keyvalue_virt_core::config::Config;
use keyvalue_virt_harness::{
    compile, plug_as_cli, read, run_component, scratch_dir, workspace_root,
};

use crate::jco::{jco_ok, transpiled};
use crate::wasmtime_cli::wasmtime_ok;

/// What the app prints for `alice bob alice` on a fresh store.
const EXPECTED: &str = "hello alice: visit 1\nhello bob: visit 1\nhello alice: visit 2\n\
                        alice: 2\nbob: 1\nnobody: none\n";

/// Copies `from` (following links) into `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The Python app, built once per process.
fn python_app() -> &'static [u8] {
    static APP: OnceLock<Vec<u8>> = OnceLock::new();
    APP.get_or_init(build_python_app)
}

/// The Python app plugged as `keyvalue-virt plug` does (memory backend), once per process, as
/// a file.
fn plugged_python_app() -> &'static Path {
    static PLUGGED: OnceLock<PathBuf> = OnceLock::new();
    PLUGGED.get_or_init(|| {
        let path = scratch_dir().join("python-counter-plugged.wasm");
        std::fs::write(&path, plug_as_cli(python_app(), &Config::default())).unwrap();
        path
    })
}

/// Builds the Python app with componentize-py; returns the component.
fn build_python_app() -> Vec<u8> {
    let dir = scratch_dir().join("python");
    let _ = std::fs::remove_dir_all(&dir);
    let wit = dir.join("wit");
    copy_dir(
        &workspace_root().join("wit/draft2-spin/deps/keyvalue-0.2.0-draft2"),
        &wit.join("deps/keyvalue-0.2.0-draft2"),
    );
    python::add_wasi_wit(&wit.join("deps"));
    std::fs::copy(
        workspace_root().join("tests/python/world.wit"),
        wit.join("world.wit"),
    )
    .unwrap();
    std::fs::copy(
        workspace_root().join("tests/python/counter.py"),
        dir.join("counter.py"),
    )
    .unwrap();
    let out = dir.join("counter.wasm");
    python::componentize(&dir, "python-counter", "counter", &out);
    read(&out)
}

#[test]
fn a_python_app_plugs_and_runs() {
    assert_eq!(shape_for(python_app()).unwrap(), Shape::Draft2Spin);
    let composed = read(plugged_python_app());
    let outcome =
        run_component(&compile(&composed), "counter", &["alice", "bob", "alice"]).assert_ok();
    assert_eq!(outcome.stdout, EXPECTED);
}

#[test]
fn a_python_app_runs_on_wasmtime_run() {
    let stdout = wasmtime_ok(&[], plugged_python_app(), &["alice", "bob", "alice"]);
    assert_eq!(stdout, EXPECTED);
}

/// On jco, transpiled once (most of the test's time: the component is about 18 MB).
#[test]
fn a_python_app_runs_on_jco() {
    let module = transpiled("python-counter", || read(plugged_python_app()));
    assert_eq!(jco_ok(&module, &["alice", "bob", "alice"], None), EXPECTED);
}
