//! What the end-to-end tests and the bench share: the test apps (built by
//! `keyvalue-virt-artifacts`) plugged with keyvalue-virt, configured or not, and run in wasmtime
//! embedded with in-memory stdio; scratch store directories for the fs backend; and `wasmtime
//! serve` processes.

#![deny(missing_docs)]

pub mod redis;
pub mod serve;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use keyvalue_virt_artifacts::{conformance, guests};
use keyvalue_virt_compose::{Shape, bake};
use keyvalue_virt_core::config::{BackendKind, Config as VirtConfig};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, Trap};
use wasmtime_wasi::p2::bindings::sync::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Most a guest may write to stdout or stderr; beyond it the write traps.
const PIPE_CAPACITY: usize = 16 << 20;

/// A test application: a `wasi:cli` command from `tests/guests`, or one of the conformance
/// suite's commands (`compose/conformance`), which take its options (`--only AREA`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum App {
    /// `conformance-draft`, the conformance suite importing `wasi:keyvalue@0.2.0-draft`.
    Draft,
    /// `conformance-draft2`, the conformance suite importing `wasi:keyvalue@0.2.0-draft2`.
    Draft2,
    /// `conformance-draft2-spin`: the conformance suite importing draft2 in the shape of
    /// upstream's PR #55 and Spin (`get-many` returns each key with an optional value).
    Draft2Spin,
    /// `both-app`, which imports both drafts and checks that they share the data.
    Both,
    /// `counter`, the README's example app (draft).
    Counter,
    /// `probe`, which runs the operations given as arguments and prints each result (draft2,
    /// plus draft's `increment`); see `tests/guests/src/bin/probe.rs`.
    Probe,
    /// `fs-app`, the fs backend's workloads: concurrent increments, CAS loops, large values, a
    /// writer to kill (draft2); see `tests/guests/src/bin/fs-app.rs`.
    Fs,
}

impl App {
    /// The conformance suite's commands, one per shape of `wasi:keyvalue`.
    pub const CONFORMANCE: [App; 3] = [App::Draft, App::Draft2, App::Draft2Spin];

    const COUNT: usize = 7;

    /// The binary name, which is also the program name passed as `argv[0]`.
    pub fn name(self) -> &'static str {
        match self {
            App::Draft => "conformance-draft",
            App::Draft2 => "conformance-draft2",
            App::Draft2Spin => "conformance-draft2-spin",
            App::Both => "both-app",
            App::Counter => "counter",
            App::Probe => "probe",
            App::Fs => "fs-app",
        }
    }

    /// The versions of the `wasi:keyvalue` interfaces this app imports.
    pub fn keyvalue_versions(self) -> &'static [&'static str] {
        match self {
            App::Draft | App::Counter => &["0.2.0-draft"],
            App::Draft2 | App::Draft2Spin => &["0.2.0-draft2"],
            App::Both | App::Probe => &["0.2.0-draft", "0.2.0-draft2"],
            App::Fs => &["0.2.0-draft2"],
        }
    }

    /// The `wasi:keyvalue` interfaces this app calls, and so imports (the linker drops the
    /// imports of interfaces an app never calls).
    pub fn keyvalue_interfaces(self) -> &'static [&'static str] {
        match self {
            App::Fs => &["store", "atomics"],
            _ => &["store", "atomics", "batch"],
        }
    }

    /// The shape of draft2 the app imports, and so the build of the virt that plugs it.
    pub fn shape(self) -> Shape {
        match self {
            App::Draft2Spin => Shape::Draft2Spin,
            _ => Shape::Draft2,
        }
    }

    /// Every app.
    pub fn all() -> [App; App::COUNT] {
        [
            App::Draft,
            App::Draft2,
            App::Draft2Spin,
            App::Both,
            App::Counter,
            App::Probe,
            App::Fs,
        ]
    }

    /// The built, unplugged component.
    pub fn path(self) -> &'static Path {
        Path::new(match self {
            App::Draft => conformance::DRAFT_PATH,
            App::Draft2 => conformance::DRAFT2_PATH,
            App::Draft2Spin => conformance::DRAFT2_SPIN_PATH,
            App::Both => guests::BOTH_APP,
            App::Counter => guests::COUNTER,
            App::Probe => guests::PROBE,
            App::Fs => guests::FS_APP,
        })
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The path of the keyvalue-virt component the CLI ships for `shape` (memory backend, nothing
/// baked in), written once per process for tools that take a file, such as `wac plug`.
pub fn virt_path(shape: Shape) -> PathBuf {
    static PATHS: [OnceLock<PathBuf>; Shape::ALL.len()] = [const { OnceLock::new() }; 2];
    let index = Shape::ALL.iter().position(|s| *s == shape).unwrap_or(0);
    PATHS[index]
        .get_or_init(|| {
            let path = scratch_dir().join(format!("keyvalue_virt_{}.wasm", shape.name()));
            let virt = keyvalue_virt_compose::virt_in(&VirtConfig::default(), shape);
            std::fs::write(&path, virt)
                .unwrap_or_else(|e| panic!("failed to write `{}`: {e}", path.display()));
            path
        })
        .clone()
}

/// The workspace root (two levels above this crate, `tests/harness`).
pub fn workspace_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .nth(2)
            .expect("the harness lives in `tests/harness` of the workspace")
            .to_path_buf()
    })
}

/// A scratch directory for files the tests write: `target/tmp/harness` in the workspace.
pub fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = workspace_root().join("target").join("tmp").join("harness");
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("failed to create `{}`: {e}", dir.display()));
        dir
    })
}

/// The guest path at which the tests grant a store directory to the fs backend.
pub const GUEST_DIR: &str = "/kv";

/// The configuration of the fs backend on [`GUEST_DIR`], for [`store_dir`]s granted there.
pub fn fs_config() -> VirtConfig {
    VirtConfig {
        backend: BackendKind::Fs,
        dir: Some(GUEST_DIR.into()),
        ..VirtConfig::default()
    }
}

/// A fresh, empty store directory for the test called `name` (under [`scratch_dir`]).
pub fn store_dir(name: &str) -> PathBuf {
    let dir = scratch_dir().join("fs").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("store"))
        .unwrap_or_else(|e| panic!("failed to create `{}`: {e}", dir.display()));
    dir.join("store")
}

/// A [`run_with`] configuration that grants `dir` to the guest at [`GUEST_DIR`], read-write.
pub fn grant(dir: &Path) -> impl FnOnce(&mut WasiCtxBuilder) + '_ {
    move |builder| {
        // As `wasmtime run` does: file operations run on the calling thread, not a pool's.
        builder
            .allow_blocking_current_thread(true)
            .preopened_dir(dir, GUEST_DIR, FsPerms::ReadWrite)
            .unwrap_or_else(|e| panic!("failed to grant `{}`: {e:?}", dir.display()));
    }
}

/// Every file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("failed to list `{}`: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The engine every test shares: component model on, concurrency support off (the guests are
/// synchronous, and it makes each cross-component call cheaper).
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true).concurrency_support(false);
        Engine::new(&config).expect("failed to create the wasmtime engine")
    })
}

/// Reads a file, panicking with its path on failure.
pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("failed to read `{}`: {e}", path.display()))
}

/// `app` plugged with the virt through [`keyvalue_virt_compose::plug`], composed once per
/// process. Panics if the composition fails or still imports `wasi:keyvalue`.
pub fn composed(app: App) -> &'static [u8] {
    static COMPOSED: [OnceLock<Vec<u8>>; App::COUNT] = [const { OnceLock::new() }; App::COUNT];
    COMPOSED[app.index()].get_or_init(|| {
        let virt = keyvalue_virt_compose::virt_in(&VirtConfig::default(), app.shape());
        let bytes = keyvalue_virt_compose::plug(&read(app.path()), virt)
            .unwrap_or_else(|e| panic!("failed to plug `{}`: {}", app.name(), chain(&e)));
        assert_no_keyvalue_imports(&bytes);
        bytes
    })
}

/// Panics unless `component` has no top-level `wasi:keyvalue` import left.
pub fn assert_no_keyvalue_imports(component: &[u8]) {
    let left = keyvalue_virt_compose::keyvalue_imports(component)
        .unwrap_or_else(|e| panic!("failed to inspect the composed component: {}", chain(&e)));
    assert!(left.is_empty(), "the composition still imports {left:?}");
}

/// Compiles a component with the shared [`engine`].
pub fn compile(bytes: &[u8]) -> Component {
    Component::new(engine(), bytes)
        .unwrap_or_else(|e| panic!("failed to compile the component: {e:?}"))
}

/// The result of running a command component.
#[derive(Debug)]
pub struct Outcome {
    /// `Ok` if `wasi:cli/run` returned `ok` (or the guest exited with status 0); otherwise what
    /// went wrong: a trap (a guest panic shows as one), an error, or an exit status.
    pub result: Result<(), String>,
    /// Everything the guest wrote to stdout.
    pub stdout: String,
    /// Everything the guest wrote to stderr.
    pub stderr: String,
}

impl Outcome {
    /// Whether the guest succeeded.
    pub fn success(&self) -> bool {
        self.result.is_ok()
    }

    /// Returns `self` if the guest succeeded; otherwise panics with its failure, stderr and
    /// stdout.
    #[track_caller]
    pub fn assert_ok(self) -> Self {
        if let Err(failure) = &self.result {
            panic!(
                "the guest failed: {failure}\n--- guest stderr ---\n{}\n--- guest stdout ---\n{}",
                self.stderr, self.stdout
            );
        }
        self
    }

    /// Returns `self` if the guest failed; otherwise panics with its stdout.
    #[track_caller]
    pub fn assert_failed(self) -> Self {
        assert!(
            !self.success(),
            "the guest succeeded but was expected to fail\n--- guest stdout ---\n{}",
            self.stdout
        );
        self
    }
}

/// Runs `app`, plugged with the virt, with `args` after the program name. The composed component is compiled once per process.
pub fn run(app: App, args: &[&str]) -> Outcome {
    run_with(app, args, |_| {})
}

/// [`run`], then [`Outcome::assert_ok`].
#[track_caller]
pub fn run_ok(app: App, args: &[&str]) -> Outcome {
    run(app, args).assert_ok()
}

/// Like [`run`], letting `configure` add to the WASI context (environment, preopens, stdin).
pub fn run_with(app: App, args: &[&str], configure: impl FnOnce(&mut WasiCtxBuilder)) -> Outcome {
    static PRE: [OnceLock<CommandPre<Host>>; App::COUNT] = [const { OnceLock::new() }; App::COUNT];
    let pre = PRE[app.index()].get_or_init(|| pre_instantiate(&compile(composed(app))));
    execute(pre, app.name(), args, configure)
}

/// The plain virt component (nothing baked in), as the CLI ships it.
pub fn plain_virt() -> &'static [u8] {
    keyvalue_virt_artifacts::VIRT
}

/// The virt with `config` baked in by [`bake::bake`], from the build the CLI would pick (the
/// one with the fs backend for `--backend fs`); panics if baking fails.
pub fn baked_virt(config: &VirtConfig) -> Vec<u8> {
    bake::bake(keyvalue_virt_compose::virt_for(config), config)
        .unwrap_or_else(|e| panic!("failed to bake the configuration: {}", chain(&e)))
}

/// `app` plugged with `virt`, which may be baked or altered. Panics if the composition fails
/// or still imports `wasi:keyvalue`.
pub fn plug_with(app: App, virt: &[u8]) -> Vec<u8> {
    let bytes = keyvalue_virt_compose::plug(&read(app.path()), virt)
        .unwrap_or_else(|e| panic!("failed to plug `{}`: {}", app.name(), chain(&e)));
    assert_no_keyvalue_imports(&bytes);
    bytes
}

/// Runs `app` plugged with the virt that has `config` baked in, with `args` after the program
/// name. Each configuration is baked, plugged and compiled once per process and app, so tests
/// that share a configuration share the compiled component.
pub fn run_configured(app: App, config: &VirtConfig, args: &[&str]) -> Outcome {
    run_configured_with(app, config, args, |_| {})
}

/// Like [`run_configured`], letting `configure` add to the WASI context (preopens, environment).
pub fn run_configured_with(
    app: App,
    config: &VirtConfig,
    args: &[&str],
    configure: impl FnOnce(&mut WasiCtxBuilder),
) -> Outcome {
    type Cache = Mutex<HashMap<(App, Vec<u8>), Arc<OnceLock<CommandPre<Host>>>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let slot = CACHE
        .get_or_init(Cache::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .entry((app, config.encode()))
        .or_default()
        .clone();
    // Compiled outside the lock, so that tests with other configurations compile in parallel.
    let pre = slot.get_or_init(|| {
        // The build of the virt the CLI would pick for the configuration and the app's shape.
        let virt = keyvalue_virt_compose::virt_in(config, app.shape());
        let baked = bake::bake(virt, config)
            .unwrap_or_else(|e| panic!("failed to bake the configuration: {}", chain(&e)));
        pre_instantiate(&compile(&plug_with(app, &baked)))
    });
    execute(pre, app.name(), args, configure)
}

/// Runs `app` plugged with `virt` (not cached: for virts altered by the test).
pub fn run_plugged(app: App, virt: &[u8], args: &[&str]) -> Outcome {
    run_component(&compile(&plug_with(app, virt)), app.name(), args)
}

/// Runs an already compiled command component with `program` as `argv[0]` followed by `args`.
pub fn run_component(component: &Component, program: &str, args: &[&str]) -> Outcome {
    execute(&pre_instantiate(component), program, args, |_| {})
}

fn pre_instantiate(component: &Component) -> CommandPre<Host> {
    let mut linker = Linker::new(engine());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
        .unwrap_or_else(|e| panic!("failed to add WASI to the linker: {e:?}"));
    let pre = linker
        .instantiate_pre(component)
        .unwrap_or_else(|e| panic!("failed to link the component: {e:?}"));
    CommandPre::new(pre).unwrap_or_else(|e| panic!("the component is not a command: {e:?}"))
}

fn execute(
    pre: &CommandPre<Host>,
    program: &str,
    args: &[&str],
    configure: impl FnOnce(&mut WasiCtxBuilder),
) -> Outcome {
    let stdout = MemoryOutputPipe::new(PIPE_CAPACITY);
    let stderr = MemoryOutputPipe::new(PIPE_CAPACITY);
    let mut builder = WasiCtx::builder();
    builder
        .arg(program)
        .args(args)
        .stdout(stdout.clone())
        .stderr(stderr.clone());
    configure(&mut builder);
    let mut store = Store::new(
        engine(),
        Host {
            ctx: builder.build(),
            table: ResourceTable::new(),
        },
    );

    let result = pre
        .instantiate(&mut store)
        .and_then(|command| command.wasi_cli_run().call_run(&mut store));
    let result = match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(())) => Err("`wasi:cli/run` returned an error".to_owned()),
        Err(e) => match e.downcast_ref::<I32Exit>() {
            Some(I32Exit(0)) => Ok(()),
            Some(I32Exit(status)) => Err(format!("the guest exited with status {status}")),
            // The guests are stripped, so a wasm backtrace says nothing; stderr has the panic.
            None => match e.downcast_ref::<Trap>() {
                Some(trap) => Err(format!("the guest trapped: {trap}")),
                None => Err(format!("{e:#}")),
            },
        },
    };
    drop(store);
    Outcome {
        result,
        stdout: String::from_utf8_lossy(&stdout.contents()).into_owned(),
        stderr: String::from_utf8_lossy(&stderr.contents()).into_owned(),
    }
}

/// Formats an error with its chain of causes.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

struct Host {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

/// [`run_component`], letting `configure` add to the WASI context (preopens for the fs backend).
pub fn run_component_with(
    component: &Component,
    program: &str,
    args: &[&str],
    configure: impl FnOnce(&mut WasiCtxBuilder),
) -> Outcome {
    execute(&pre_instantiate(component), program, args, configure)
}

/// What `keyvalue-virt plug APP` does with the options that make `config`, in-process: picks
/// the shape `app` imports, bakes `config` into the build of the virt that serves it, plugs it.
/// Panics if that fails or leaves a `wasi:keyvalue` import.
pub fn plug_as_cli(app: &[u8], config: &VirtConfig) -> Vec<u8> {
    let shape = keyvalue_virt_compose::shape_for(app)
        .unwrap_or_else(|e| panic!("no build of the virt plugs the app: {}", chain(&e)));
    let virt = bake::bake(keyvalue_virt_compose::virt_in(config, shape), config)
        .unwrap_or_else(|e| panic!("failed to bake the configuration: {}", chain(&e)));
    let bytes = keyvalue_virt_compose::plug(app, &virt)
        .unwrap_or_else(|e| panic!("failed to plug the app: {}", chain(&e)));
    assert_no_keyvalue_imports(&bytes);
    bytes
}
