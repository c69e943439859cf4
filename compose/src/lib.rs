//! Plugs the keyvalue-virt component into applications that import `wasi:keyvalue`.
//!
//! [`plug`] does in-process what `wac plug APP --plug VIRT` does: every `wasi:keyvalue`
//! interface the application imports is satisfied by the virt's export of the same name; all
//! other imports (`wasi:cli`, `wasi:io`, ...) remain imports of the composed component, and the
//! application's exports become its exports.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let app = std::fs::read("app.wasm")?;
//! let virt = std::fs::read("keyvalue_virt.wasm")?;
//! let composed = keyvalue_virt_compose::plug(&app, &virt)?;
//! assert!(keyvalue_virt_compose::keyvalue_imports(&composed)?.is_empty());
//! std::fs::write("composed.wasm", composed)?;
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod bake;
pub mod suite;
mod wiring;
/// The configuration format, shared with the guest.
pub use keyvalue_virt_core::config;

use thiserror::Error;
use wac_graph::CompositionGraph;
use wasmparser::{Encoding, Parser, Payload};

pub use wiring::WiringError;

pub use keyvalue_virt_artifacts::{
    VIRT, VIRT_CONTROL, VIRT_CONTROL_DRAFT2_SPIN, VIRT_DRAFT2_SPIN, VIRT_FS, VIRT_FS_DRAFT2_SPIN,
    VIRT_REDIS, VIRT_REDIS_DRAFT2_SPIN, VIRT_REDIS_TLS, VIRT_REDIS_TLS_DRAFT2_SPIN,
};

/// The name of the control interface that the control builds export ([`VIRT_CONTROL`]) and
/// [`plug_control`] exports from the composition.
pub const CONTROL_INTERFACE: &str = "keyvalue-virt:control/control@0.1.0";

/// Which shape of `wasi:keyvalue@0.2.0-draft2` a build exports (every build exports
/// `0.2.0-draft` too). Upstream's main branch (head fb6e23d) has draft2 as tagged; its PR #55,
/// open and not merged, changes `batch.get-many` without changing the version, and Spin ships
/// that shape. So two interfaces share one name, and a component can export only one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Shape {
    /// Draft2 as tagged and as upstream's main branch has it: `get-many` returns
    /// `list<option<tuple<string, list<u8>>>>`.
    #[default]
    Draft2,
    /// Draft2 as Spin ships it, the shape of upstream's open (unmerged) PR #55: `get-many`
    /// returns `list<tuple<string, option<list<u8>>>>`.
    Draft2Spin,
}

impl Shape {
    /// Every shape, the default first.
    pub const ALL: [Shape; 2] = [Shape::Draft2, Shape::Draft2Spin];

    /// The name `--shape` takes.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Draft2 => "draft2",
            Shape::Draft2Spin => "draft2-spin",
        }
    }

    /// The shape named `name`.
    pub fn from_name(name: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|shape| shape.name() == name)
    }

    /// What tells the shape apart, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Shape::Draft2 => {
                "draft2 as tagged and as upstream's main branch has it: `get-many` returns an \
                 optional key-value pair per key"
            }
            Shape::Draft2Spin => {
                "draft2 as Spin ships it (upstream's open PR #55, not merged): `get-many` returns \
                 each key with an optional value"
            }
        }
    }
}

/// A shape of `wasi:keyvalue` an app imports: `0.2.0-draft`, or one of draft2's [`Shape`]s. The
/// conformance suite comes in one command per draft (`keyvalue-virt conformance --draft`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Draft {
    /// `wasi:keyvalue@0.2.0-draft`.
    Draft,
    /// `wasi:keyvalue@0.2.0-draft2` as tagged ([`Shape::Draft2`]).
    #[default]
    Draft2,
    /// `wasi:keyvalue@0.2.0-draft2` as Spin ships it, upstream's open PR #55
    /// ([`Shape::Draft2Spin`]).
    Draft2Spin,
}

impl Draft {
    /// Every draft, in the order of their versions.
    pub const ALL: [Draft; 3] = [Draft::Draft, Draft::Draft2, Draft::Draft2Spin];

    /// The name `--draft` takes; draft2's are those of [`Shape::name`].
    pub fn name(self) -> &'static str {
        match self {
            Draft::Draft => "draft",
            Draft::Draft2 => Shape::Draft2.name(),
            Draft::Draft2Spin => Shape::Draft2Spin.name(),
        }
    }

    /// The draft named `name`.
    pub fn from_name(name: &str) -> Option<Draft> {
        Draft::ALL.into_iter().find(|draft| draft.name() == name)
    }

    /// The build of the virt that plugs an app importing this draft.
    pub fn shape(self) -> Shape {
        match self {
            Draft::Draft | Draft::Draft2 => Shape::Draft2,
            Draft::Draft2Spin => Shape::Draft2Spin,
        }
    }

    /// The conformance suite's command that imports this draft.
    pub fn conformance(self) -> &'static [u8] {
        use keyvalue_virt_artifacts::conformance;
        match self {
            Draft::Draft => conformance::DRAFT,
            Draft::Draft2 => conformance::DRAFT2,
            Draft::Draft2Spin => conformance::DRAFT2_SPIN,
        }
    }
}

/// The shipped component that can serve `config` in `shape`: with the fs backend (larger)
/// for `--backend fs`, the redis backend for `--backend redis` (with TLS when the configuration
/// asks for it: `rediss://`, `--tls`, `--tls-ca`), memory only otherwise; a control build
/// (every backend, no TLS) for `--trace=json`.
pub fn virt_in(config: &config::Config, shape: Shape) -> &'static [u8] {
    let tls = config.redis.tls;
    // The JSON trace is written only by the control builds (it would cost every shipped build
    // about 7 KB); an app traced for machines is under test, where size matters less. The CLI
    // refuses `--trace=json` with TLS.
    if config.trace == config::Trace::Json && !tls {
        return control_virt_in(shape);
    }
    match (config.backend, shape) {
        (config::BackendKind::Redis, Shape::Draft2) if tls => VIRT_REDIS_TLS,
        (config::BackendKind::Redis, Shape::Draft2Spin) if tls => VIRT_REDIS_TLS_DRAFT2_SPIN,
        (config::BackendKind::Fs, Shape::Draft2) => VIRT_FS,
        (config::BackendKind::Fs, Shape::Draft2Spin) => VIRT_FS_DRAFT2_SPIN,
        (config::BackendKind::Memory, Shape::Draft2) => VIRT,
        (config::BackendKind::Memory, Shape::Draft2Spin) => VIRT_DRAFT2_SPIN,
        (config::BackendKind::Redis, Shape::Draft2) => VIRT_REDIS,
        (config::BackendKind::Redis, Shape::Draft2Spin) => VIRT_REDIS_DRAFT2_SPIN,
    }
}

/// The shipped component with the control interface (and every backend) in `shape`.
pub fn control_virt_in(shape: Shape) -> &'static [u8] {
    match shape {
        Shape::Draft2 => VIRT_CONTROL,
        Shape::Draft2Spin => VIRT_CONTROL_DRAFT2_SPIN,
    }
}

/// [`virt_in`] the default shape.
pub fn virt_for(config: &config::Config) -> &'static [u8] {
    virt_in(config, Shape::Draft2)
}

/// The shape whose build can plug `app`: the first of [`Shape::ALL`] with which [`plug`]
/// succeeds (tried with the plain memory builds, whose exports every build shares). When none
/// does, the error of the first, which names what does not match.
pub fn shape_for(app: &[u8]) -> Result<Shape, PlugError> {
    let mut first = None;
    for shape in Shape::ALL {
        match plug(app, virt_in(&config::Config::default(), shape)) {
            Ok(_) => return Ok(shape),
            Err(PlugError::NoKeyvalueImport) => return Err(PlugError::NoKeyvalueImport),
            Err(error) => {
                first.get_or_insert(error);
            }
        }
    }
    Err(first.unwrap_or(PlugError::NoKeyvalueImport))
}

/// The prefix shared by the names of all `wasi:keyvalue` interfaces.
pub const KEYVALUE_PREFIX: &str = "wasi:keyvalue/";

/// Package names under which the two inputs are registered in the composition graph.
const APP_PACKAGE: &str = "keyvalue-virt:app";
const VIRT_PACKAGE: &str = "keyvalue-virt:virt";

/// Which of the two inputs of [`plug`] an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The application whose `wasi:keyvalue` imports are plugged.
    App,
    /// The component that exports `wasi:keyvalue` (keyvalue-virt).
    Virt,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::App => "app",
            Role::Virt => "virt",
        })
    }
}

/// An error from [`plug`].
#[derive(Debug, Error)]
pub enum PlugError {
    /// A step of the composition failed: parsing or registering an input, wiring the virt's
    /// exports to the app's imports, exporting, encoding.
    #[error(transparent)]
    Wiring(#[from] WiringError<Role>),
    /// The application imports no `wasi:keyvalue` interface, so plugging it would change nothing.
    #[error(
        "the app imports no `wasi:keyvalue` interface, so there is nothing to plug; \
         pass an app that imports `wasi:keyvalue/store` (draft or draft2)"
    )]
    NoKeyvalueImport,
    /// The application imports `wasi:keyvalue` interfaces that the virt does not export.
    #[error(
        "the app imports {}, which the virt does not export; the virt exports: {}",
        backticked(missing),
        backticked(available)
    )]
    UnsupportedImports {
        /// The app's `wasi:keyvalue` imports the virt cannot satisfy.
        missing: Vec<String>,
        /// The `wasi:keyvalue` interfaces the virt exports.
        available: Vec<String>,
    },
    /// [`plug_control`] was given a virt that does not export the control interface.
    #[error(
        "the virt does not export `{CONTROL_INTERFACE}`; plug with a control build of \
         keyvalue-virt (`VIRT_CONTROL`, or `keyvalue-virt plug --control`)"
    )]
    NoControlExport,
}

/// An error from [`keyvalue_imports`].
#[derive(Debug, Error)]
pub enum InspectError {
    /// The bytes are a core module, not a component.
    #[error("expected a WebAssembly component, found a core module")]
    NotAComponent,
    /// The bytes could not be parsed.
    #[error("failed to parse the WebAssembly component")]
    Parse(#[source] wasmparser::BinaryReaderError),
}

/// Composes `app` with `virt`, satisfying each `wasi:keyvalue` import of `app` with the export
/// of the same name from `virt`, and returns the encoded (and validated) composed component.
///
/// Imports of `app` outside `wasi:keyvalue` remain imports of the result; the exports of `app`
/// (such as `wasi:cli/run`) become its exports. The virt's own exports are not re-exported.
///
/// # Errors
///
/// Refuses an `app` that imports no `wasi:keyvalue` interface ([`PlugError::NoKeyvalueImport`])
/// or one that imports a `wasi:keyvalue` interface the virt does not export
/// ([`PlugError::UnsupportedImports`]); fails if either input is not a valid component or an
/// export of the virt does not type-check against the app's import.
pub fn plug(app: &[u8], virt: &[u8]) -> Result<Vec<u8>, PlugError> {
    compose(app, virt, false)
}

/// [`plug`], and the composed component also exports the virt's control interface
/// ([`CONTROL_INTERFACE`]), so that a test drives the same instance the app runs in.
///
/// # Errors
///
/// Those of [`plug`], and [`PlugError::NoControlExport`] for a virt without the interface.
pub fn plug_control(app: &[u8], virt: &[u8]) -> Result<Vec<u8>, PlugError> {
    compose(app, virt, true)
}

fn compose(app: &[u8], virt: &[u8], control: bool) -> Result<Vec<u8>, PlugError> {
    let mut graph = CompositionGraph::new();
    let app = wiring::register(&mut graph, Role::App, APP_PACKAGE, app)?;
    let virt = wiring::register(&mut graph, Role::Virt, VIRT_PACKAGE, virt)?;

    let app_world = &graph.types()[graph[app].ty()];
    let virt_world = &graph.types()[graph[virt].ty()];
    let wanted: Vec<String> = keyvalue_names(app_world.imports.keys());
    let available: Vec<String> = keyvalue_names(virt_world.exports.keys());
    let app_exports: Vec<String> = app_world.exports.keys().cloned().collect();
    if control && !virt_world.exports.contains_key(CONTROL_INTERFACE) {
        return Err(PlugError::NoControlExport);
    }

    if wanted.is_empty() {
        return Err(PlugError::NoKeyvalueImport);
    }
    let missing: Vec<String> = wanted
        .iter()
        .filter(|name| !available.contains(name))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(PlugError::UnsupportedImports { missing, available });
    }

    let app_instance = graph.instantiate(app);
    let virt_instance = graph.instantiate(virt);
    for name in &wanted {
        wiring::wire(
            &mut graph,
            (virt_instance, Role::Virt),
            (app_instance, Role::App),
            name,
        )?;
    }
    for name in &app_exports {
        wiring::re_export(&mut graph, app_instance, Role::App, name)?;
    }
    if control {
        wiring::re_export(&mut graph, virt_instance, Role::Virt, CONTROL_INTERFACE)?;
    }
    Ok(wiring::encode(&graph)?)
}

/// Returns the names of the top-level imports of `component` that are `wasi:keyvalue`
/// interfaces (names starting with [`KEYVALUE_PREFIX`]), in the order they are imported.
///
/// Only the outer component's imports count; imports of nested components and modules are
/// satisfied inside it and are ignored. An empty result after [`plug`] means no `wasi:keyvalue`
/// import is left for the runtime to provide.
///
/// # Errors
///
/// Fails if `component` is a core module or cannot be parsed.
pub fn keyvalue_imports(component: &[u8]) -> Result<Vec<String>, InspectError> {
    let mut names = imports(component)?;
    names.retain(|name| name.starts_with(KEYVALUE_PREFIX));
    Ok(names)
}

/// Returns the names of all top-level imports of `component`, in the order they are imported:
/// what a runtime must provide to run it.
///
/// # Errors
///
/// Fails if `component` is a core module or cannot be parsed.
pub fn imports(component: &[u8]) -> Result<Vec<String>, InspectError> {
    top_level_names(component, Side::Imports)
}

/// Returns the names of all top-level exports of `component`, in the order they are exported:
/// what a runtime can call (`wasi:cli/run`, `wasi:http/incoming-handler`, ...).
///
/// # Errors
///
/// Fails if `component` is a core module or cannot be parsed.
pub fn exports(component: &[u8]) -> Result<Vec<String>, InspectError> {
    top_level_names(component, Side::Exports)
}

/// Which names of a component [`top_level_names`] reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Imports,
    Exports,
}

fn top_level_names(component: &[u8], side: Side) -> Result<Vec<String>, InspectError> {
    let mut names = Vec::new();
    // Nested modules and components are parsed inline; `depth` tells their sections apart.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(component) {
        match payload.map_err(InspectError::Parse)? {
            Payload::Version { encoding, .. } if depth == 0 && encoding != Encoding::Component => {
                return Err(InspectError::NotAComponent);
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 && side == Side::Imports => {
                for import in reader {
                    names.push(
                        import
                            .map_err(InspectError::Parse)?
                            .name
                            .full_name()
                            .into_owned(),
                    );
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 && side == Side::Exports => {
                for export in reader {
                    names.push(
                        export
                            .map_err(InspectError::Parse)?
                            .name
                            .full_name()
                            .into_owned(),
                    );
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

fn keyvalue_names<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    names
        .filter(|name| name.starts_with(KEYVALUE_PREFIX))
        .cloned()
        .collect()
}

fn backticked(names: &[String]) -> String {
    if names.is_empty() {
        return "nothing".to_owned();
    }
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An app that imports the draft store and `wasi:cli/environment`, and re-exports the store
    /// as its `run` interface so that the composition has something to export.
    const APP: &str = r#"(component
        (import "wasi:keyvalue/store@0.2.0-draft" (instance $kv (export "f" (func))))
        (import "wasi:cli/environment@0.2.0" (instance (export "g" (func))))
        (export "wasi:cli/run@0.2.0" (instance $kv))
    )"#;

    /// A virt that exports the draft store with a function of type `type_`.
    fn virt(type_: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(component
                (core module $m (func (export "f") {type_}
                    {body}))
                (core instance $i (instantiate $m))
                (func $f {lifted} (canon lift (core func $i "f")))
                (instance $store (export "f" (func $f)))
                (export "wasi:keyvalue/store@0.2.0-draft" (instance $store))
            )"#,
            body = if type_.is_empty() { "" } else { "i32.const 0" },
            lifted = if type_.is_empty() { "" } else { "(result u32)" },
        ))
        .unwrap()
    }

    fn top_level_names(component: &[u8]) -> (Vec<String>, Vec<String>) {
        let (mut imports, mut exports) = (Vec::new(), Vec::new());
        let mut depth = 0usize;
        for payload in Parser::new(0).parse_all(component) {
            match payload.unwrap() {
                Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::ComponentImportSection(r) if depth == 0 => {
                    imports.extend(r.into_iter().map(|i| i.unwrap().name.full_name().into()))
                }
                Payload::ComponentExportSection(r) if depth == 0 => {
                    exports.extend(r.into_iter().map(|e| e.unwrap().name.full_name().into()))
                }
                _ => {}
            }
        }
        (imports, exports)
    }

    #[test]
    fn plug_satisfies_keyvalue_and_keeps_other_imports_and_exports() {
        let app = wat::parse_str(APP).unwrap();
        let composed = plug(&app, &virt("")).unwrap();
        assert_eq!(keyvalue_imports(&composed).unwrap(), Vec::<String>::new());
        let (imports, exports) = top_level_names(&composed);
        assert_eq!(imports, ["wasi:cli/environment@0.2.0"]);
        assert_eq!(exports, ["wasi:cli/run@0.2.0"]);
    }

    #[test]
    fn plug_control_needs_a_virt_with_the_control_interface() {
        let app = wat::parse_str(APP).unwrap();
        let err = plug_control(&app, &virt("")).unwrap_err();
        assert!(matches!(err, PlugError::NoControlExport), "{err}");
        assert!(err.to_string().contains("`keyvalue-virt plug --control`"));
    }

    #[test]
    fn plug_refuses_app_without_keyvalue_imports() {
        let virt = virt("");
        let err = plug(&virt, &virt).unwrap_err();
        assert!(matches!(err, PlugError::NoKeyvalueImport), "{err}");
        assert!(
            err.to_string()
                .contains("imports no `wasi:keyvalue` interface")
        );
    }

    #[test]
    fn plug_refuses_keyvalue_imports_the_virt_lacks() {
        let app = wat::parse_str(APP.replace("0.2.0-draft", "0.2.0-draft9")).unwrap();
        let err = plug(&app, &virt("")).unwrap_err();
        let PlugError::UnsupportedImports { missing, available } = &err else {
            panic!("unexpected error: {err}");
        };
        assert_eq!(missing, &["wasi:keyvalue/store@0.2.0-draft9"]);
        assert_eq!(available, &["wasi:keyvalue/store@0.2.0-draft"]);
    }

    #[test]
    fn plug_reports_mismatched_types() {
        let app = wat::parse_str(APP).unwrap();
        let err = plug(&app, &virt("(result i32)")).unwrap_err();
        assert!(
            matches!(&err, PlugError::Wiring(WiringError::Wire { name, .. })
            if name == "wasi:keyvalue/store@0.2.0-draft"),
            "{err}"
        );
    }

    #[test]
    fn plug_rejects_garbage_app() {
        let err = plug(b"not wasm", &virt("")).unwrap_err();
        assert!(
            matches!(
                err,
                PlugError::Wiring(WiringError::Parse {
                    part: Role::App,
                    ..
                })
            ),
            "{err}"
        );
    }

    #[test]
    fn keyvalue_imports_lists_only_outer_keyvalue_imports() {
        let component = wat::parse_str(
            r#"(component
                (import "wasi:keyvalue/store@0.2.0-draft2" (instance))
                (import "wasi:cli/environment@0.2.0" (instance))
                (import "wasi:keyvalue/batch@0.2.0-draft2" (instance))
                (component
                    (import "wasi:keyvalue/atomics@0.2.0-draft2" (instance))
                )
            )"#,
        )
        .unwrap();
        assert_eq!(
            keyvalue_imports(&component).unwrap(),
            [
                "wasi:keyvalue/store@0.2.0-draft2",
                "wasi:keyvalue/batch@0.2.0-draft2"
            ]
        );
    }

    #[test]
    fn keyvalue_imports_rejects_core_modules() {
        let module = wat::parse_str("(module)").unwrap();
        assert!(matches!(
            keyvalue_imports(&module),
            Err(InspectError::NotAComponent)
        ));
    }

    #[test]
    fn keyvalue_imports_rejects_garbage() {
        assert!(matches!(
            keyvalue_imports(b"not wasm"),
            Err(InspectError::Parse(_))
        ));
    }

    #[test]
    fn unsupported_imports_message_names_both_sides() {
        let err = PlugError::UnsupportedImports {
            missing: vec!["wasi:keyvalue/watcher@0.2.0-draft".into()],
            available: vec![
                "wasi:keyvalue/store@0.2.0-draft".into(),
                "wasi:keyvalue/batch@0.2.0-draft".into(),
            ],
        };
        assert_eq!(
            err.to_string(),
            "the app imports `wasi:keyvalue/watcher@0.2.0-draft`, which the virt does not export; \
             the virt exports: `wasi:keyvalue/store@0.2.0-draft`, `wasi:keyvalue/batch@0.2.0-draft`"
        );
    }
}
