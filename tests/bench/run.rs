//! Running the bench app: in wasmtime embedded (with wasmtime's host store linked and the
//! memory of the store metered), on the `wasmtime run` CLI, and on jco (Node.js).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use keyvalue_virt_harness::{self as harness, engine, workspace_root};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Store};
use wasmtime_wasi::p2::bindings::sync::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_keyvalue::{WasiKeyValue, WasiKeyValueCtx, WasiKeyValueCtxBuilder};

/// The program name the bench app is run under.
const PROGRAM: &str = "bench-app";
/// Most the bench app may write to stdout or stderr.
const PIPE_CAPACITY: usize = 1 << 20;

/// What a store holds: WASI, wasmtime's host key-value store (used only by the unplugged app)
/// and the memory meter.
pub struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
    keyvalue: WasiKeyValueCtx,
    meter: MemoryMeter,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Counts the bytes of linear memory a store's instances hold: wasmtime asks the limiter when
/// it creates a memory (from 0) and before every growth.
#[derive(Default)]
struct MemoryMeter {
    bytes: usize,
}

impl ResourceLimiter for MemoryMeter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.bytes += desired.saturating_sub(current);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// A command component compiled and linked with the harness's engine (concurrency support
/// off), with WASI and wasmtime's host key-value store in the linker.
pub fn prepare(bytes: &[u8]) -> CommandPre<Host> {
    let component = Component::new(engine(), bytes)
        .unwrap_or_else(|e| panic!("failed to compile the component: {e:?}"));
    let mut linker = Linker::new(engine());
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
        .unwrap_or_else(|e| panic!("failed to add WASI to the linker: {e:?}"));
    // As `wasmtime run -S keyvalue` links it; a plugged app imports none of it.
    wasmtime_wasi_keyvalue::add_to_linker(&mut linker, |host: &mut Host| {
        WasiKeyValue::new(&host.keyvalue, &mut host.table)
    })
    .unwrap_or_else(|e| panic!("failed to add wasi:keyvalue to the linker: {e:?}"));
    let pre = linker
        .instantiate_pre(&component)
        .unwrap_or_else(|e| panic!("failed to link the component: {e:?}"));
    CommandPre::new(pre).unwrap_or_else(|e| panic!("the component is not a command: {e:?}"))
}

/// A fresh store with `args` after the program name; returns it and its stdout.
fn store(args: &[String]) -> (Store<Host>, MemoryOutputPipe, MemoryOutputPipe) {
    let stdout = MemoryOutputPipe::new(PIPE_CAPACITY);
    let stderr = MemoryOutputPipe::new(PIPE_CAPACITY);
    let wasi = WasiCtx::builder()
        .arg(PROGRAM)
        .args(args)
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .build();
    let mut store = Store::new(
        engine(),
        Host {
            wasi,
            table: ResourceTable::new(),
            keyvalue: WasiKeyValueCtxBuilder::new().build(),
            meter: MemoryMeter::default(),
        },
    );
    store.limiter(|host| &mut host.meter);
    (store, stdout, stderr)
}

/// Runs the bench app in `pre` with `args`; returns its stdout and the bytes of linear memory
/// the store held at the end.
pub fn embedded(pre: &CommandPre<Host>, args: &[String]) -> (String, usize) {
    let (mut store, stdout, stderr) = store(args);
    let result = pre
        .instantiate(&mut store)
        .and_then(|command| command.wasi_cli_run().call_run(&mut store));
    let stdout = String::from_utf8_lossy(&stdout.contents()).into_owned();
    match result {
        Ok(Ok(())) => {}
        _ => panic!(
            "the bench app failed ({}): {result:?}\n--- stderr ---\n{}\n--- stdout ---\n{stdout}",
            args.join(" "),
            String::from_utf8_lossy(&stderr.contents())
        ),
    }
    (stdout, store.data().meter.bytes)
}

/// The nanoseconds a fresh store and an instance of `pre` take (what `wasmtime serve` pays per
/// request before the guest runs).
pub fn instantiation(pre: &CommandPre<Host>) -> f64 {
    let start = Instant::now();
    let (mut store, _, _) = store(&[]);
    let instance = pre
        .instantiate(&mut store)
        .unwrap_or_else(|e| panic!("failed to instantiate: {e:?}"));
    let elapsed = start.elapsed().as_nanos() as f64;
    drop((instance, store));
    elapsed
}

/// The version line of the `wasmtime` CLI, or `None` when it is not on PATH.
pub fn wasmtime_cli() -> Option<String> {
    let out = Command::new("wasmtime").arg("--version").output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Writes `bytes` to `name` in the harness's scratch directory, for tools that take a file.
pub fn write_scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let path = harness::scratch_dir().join(name);
    std::fs::write(&path, bytes)
        .unwrap_or_else(|e| panic!("failed to write `{}`: {e}", path.display()));
    path
}

/// Runs `component` on `wasmtime run` with `args` (with `-S keyvalue`, wasmtime's host store,
/// if `host_store`); returns its stdout.
pub fn cli(component: &Path, host_store: bool, args: &[String]) -> String {
    let mut command = Command::new("wasmtime");
    command.arg("run");
    if host_store {
        command.args(["-S", "keyvalue"]);
    }
    checked(command.arg(component).args(args), "wasmtime run")
}

/// Runs `command`, which must succeed; returns its stdout.
fn checked(command: &mut Command, what: &str) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("failed to run `{what}`: {e}"));
    assert!(
        out.status.success(),
        "`{what}` failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// jco, installed locally in `tests/jco` by `.ci/setup`, or `None` when it is missing.
pub fn jco() -> Option<PathBuf> {
    let jco = workspace_root().join("tests/jco/node_modules/.bin/jco");
    jco.is_file().then_some(jco)
}

/// The JavaScript `Map` behind the draft's `store`, `atomics` and `batch`, as a path relative
/// to a module transpiled into `tests/jco/transpiled/NAME/`.
const MAP_STORE: &str = "../../../bench/map-store.mjs";

/// `bytes` transpiled by `jco` into `tests/jco/transpiled/NAME` (with the draft's
/// `wasi:keyvalue` imports served by [`MAP_STORE`] if `map_store`); returns the module's path.
pub fn transpile(jco: &Path, name: &str, bytes: &[u8], map_store: bool) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let out = workspace_root().join("tests/jco/transpiled").join(name);
    let wasm = write_scratch(&format!("jco-{name}.wasm"), bytes);
    let _ = std::fs::remove_dir_all(&out);
    let mut command = Command::new(jco);
    command
        .arg("transpile")
        .arg(&wasm)
        .arg("-o")
        .arg(&out)
        .args(["--name", name, "--no-typescript", "--quiet"]);
    if map_store {
        command
            .arg("--map")
            .arg(format!("wasi:keyvalue/*@0.2.0-draft={MAP_STORE}#*"));
    }
    checked(&mut command, "jco transpile");
    out.join(format!("{name}.js"))
}

/// Runs the transpiled bench app `module` on Node.js with `args`; returns its stdout.
pub fn node(module: &Path, args: &[String]) -> String {
    checked(
        Command::new("node")
            .arg(workspace_root().join("tests/jco/run.mjs"))
            .arg(module)
            .args(args),
        "node run.mjs",
    )
}
