//! Composition: with the library's `plug` (what it refuses and what it leaves imported) and
//! with the stock `wac plug` CLI, as the README tells users to do it.

use std::path::PathBuf;
use std::process::Command;

use keyvalue_virt_compose::{PlugError, keyvalue_imports, plug};
use keyvalue_virt_harness::{
    App, assert_no_keyvalue_imports, compile, composed, plain_virt, read, run_component,
    scratch_dir, virt_path,
};

#[test]
fn apps_import_the_drafts_they_are_built_for() {
    for app in App::all() {
        let imports = keyvalue_imports(&read(app.path())).unwrap();
        let mut expected: Vec<String> = app
            .keyvalue_versions()
            .iter()
            .flat_map(|v| {
                app.keyvalue_interfaces()
                    .iter()
                    .map(move |i| format!("wasi:keyvalue/{i}@{v}"))
            })
            .collect();
        let mut imports = imports.clone();
        expected.sort();
        imports.sort();
        assert_eq!(imports, expected, "imports of `{}`", app.name());
    }
}

#[test]
fn plugged_apps_import_no_keyvalue() {
    for app in App::all() {
        assert_no_keyvalue_imports(composed(app));
    }
}

#[test]
fn plug_refuses_a_component_without_keyvalue_imports() {
    let virt = plain_virt();
    let err = plug(virt, virt).unwrap_err();
    assert!(matches!(err, PlugError::NoKeyvalueImport), "{err}");
}

/// The `wac` binary, which `.ci/run` installs with `cargo install`.
fn wac() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .expect("neither CARGO_HOME nor HOME is set");
    let wac = cargo_home.join("bin").join("wac");
    assert!(
        wac.is_file(),
        "`wac` is not installed at `{}`; run .ci/run to install it",
        wac.display()
    );
    wac
}

fn wac_plug(app: App) -> Vec<u8> {
    let out = scratch_dir().join(format!("wac-plug-{}.wasm", app.name()));
    let output = Command::new(wac())
        .arg("plug")
        .arg(app.path())
        .arg("--plug")
        .arg(virt_path(app.shape()))
        .arg("-o")
        .arg(&out)
        .output()
        .expect("failed to run `wac plug`");
    assert!(
        output.status.success(),
        "`wac plug` failed for `{}` ({}):\n{}",
        app.name(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    read(&out)
}

fn check(app: App) {
    let composed = wac_plug(app);
    assert_no_keyvalue_imports(&composed);
    let outcome = run_component(&compile(&composed), app.name(), &["--only", "store"]).assert_ok();
    assert!(
        outcome.stdout.ends_with(" passed, 0 failed, 0 skipped\n"),
        "{}",
        outcome.stdout
    );
}

#[test]
fn wac_plug_conformance_draft() {
    check(App::Draft);
}

#[test]
fn wac_plug_conformance_draft2() {
    check(App::Draft2);
}

#[test]
fn wac_plug_conformance_draft2_spin() {
    check(App::Draft2Spin);
}
