//! Composition with the library's `plug`: what it refuses and what it leaves imported.

use keyvalue_virt_compose::{PlugError, keyvalue_imports, plug};

use crate::harness::{App, assert_no_keyvalue_imports, composed, plain_virt, read};

#[test]
fn apps_import_the_drafts_they_are_built_for() {
    for app in App::all() {
        let imports = keyvalue_imports(&read(&app.path())).unwrap();
        let mut expected: Vec<String> = app
            .keyvalue_versions()
            .iter()
            .flat_map(|v| ["store", "atomics", "batch"].map(|i| format!("wasi:keyvalue/{i}@{v}")))
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
