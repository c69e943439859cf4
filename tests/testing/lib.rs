//! Test an app that imports `wasi:keyvalue` with keyvalue-virt as a live test double: seed the
//! store, run the app, assert on the data and on the calls it made, inject a fault, run again.
//!
//! [`TestApp`] plugs the app with the control build of keyvalue-virt (what `keyvalue-virt plug
//! --control` does) or loads an app plugged that way, instantiates it in wasmtime embedded,
//! and serves both of the composed component's exports on the same instance: the app's
//! `wasi:cli/run` ([`TestApp::run`], arguments in, exit status and output out) and
//! keyvalue-virt's control interface (`keyvalue-virt:control/control@0.1.0`, the other
//! methods). A command runs once per instance; the data and the call log carry over to the
//! next run's instance (see [`TestApp`]) until [`TestApp::reset`] puts the store back to the
//! baked seeds.
//!
//! ```
//! use keyvalue_virt_testing::{Config, Error, Fault, Op, TestApp};
//!
//! # fn main() -> keyvalue_virt_testing::Result<()> {
//! # let counter = std::fs::read(keyvalue_virt_artifacts::guests::COUNTER)?;
//! // `counter NAME...` increments a count per name in bucket "" and prints it.
//! let mut app = TestApp::plug(&counter, &Config::default())?;
//! app.set("", "alice", b"41")?;
//!
//! let run = app.run(&["alice"])?;
//! assert!(run.success(), "{run}");
//! assert!(run.stdout.contains("hello alice: visit 42"), "{run}");
//! assert_eq!(app.get("", "alice")?.as_deref(), Some(&b"42"[..]));
//! app.assert_called(Op::Increment, "", "alice", 1)?;
//!
//! app.clear_log()?;
//! app.add_fault(Fault::new(Op::Increment, Error::Other("disk on fire".into())))?;
//! let run = app.run(&["alice"])?;
//! assert!(!run.success());
//! assert!(run.stderr.contains("disk on fire"), "{run}");
//! assert_eq!(app.get("", "alice")?.as_deref(), Some(&b"42"[..]));
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

use std::fmt;

use keyvalue_virt_compose::config::BackendKind;
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::error::Context;
use wasmtime::{Engine, Store};
use wasmtime::{bail, format_err as anyhow};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use keyvalue_virt_compose::config::Config;
/// The WASI host, for [`TestApp::load_with`]'s `WasiCtxBuilder` (preopens, environment).
pub use wasmtime_wasi;

/// What every fallible call returns: wasmtime's error type, with the context of what failed.
pub type Result<T, E = wasmtime::Error> = std::result::Result<T, E>;

// The generated types carry the WIT's docs; the modules around them have none.
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/control",
        world: "keyvalue-virt:control/controlled",
        additional_derives: [PartialEq],
    });
}

use bindings::Controlled;
pub use bindings::exports::keyvalue_virt::control::control::{
    Call, CallLog, Error, Fault as WitFault, Op, Outcome,
};

/// The most a run may write to stdout or stderr; beyond it the write traps.
const PIPE_CAPACITY: usize = 16 << 20;

/// A fault to inject with [`TestApp::add_fault`]: calls of `op` fail with `error`, every call
/// or only the `nth` from now on, on any bucket and key or only on those given.
#[derive(Debug, Clone)]
pub struct Fault {
    /// The operation that fails.
    pub op: Op,
    /// What the failing call returns.
    pub error: Error,
    /// Only the `nth` matching call from now on fails (1: the next); every call when `None`.
    pub nth: Option<u64>,
    /// Only calls on this bucket fail.
    pub bucket: Option<String>,
    /// Only calls that name this key fail.
    pub key: Option<String>,
}

impl Fault {
    /// Every call of `op`, on any bucket and key, fails with `error`.
    pub fn new(op: Op, error: Error) -> Fault {
        Fault {
            op,
            error,
            nth: None,
            bucket: None,
            key: None,
        }
    }

    /// Only the `nth` matching call from now on fails (1: the next).
    pub fn nth(mut self, nth: u64) -> Fault {
        self.nth = Some(nth);
        self
    }

    /// Only calls on `bucket` fail.
    pub fn bucket(mut self, bucket: &str) -> Fault {
        self.bucket = Some(bucket.to_owned());
        self
    }

    /// Only calls that name `key` fail.
    pub fn key(mut self, key: &str) -> Fault {
        self.key = Some(key.to_owned());
        self
    }
}

/// What one [`TestApp::run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The exit status: 0 when `run` returned success, 1 when it returned an error, or what
    /// the app passed to `exit`.
    pub status: i32,
    /// What the app wrote to stdout during this run.
    pub stdout: String,
    /// What the app wrote to stderr during this run.
    pub stderr: String,
}

impl Run {
    /// Whether the app exited with status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// The exit status and both outputs, for assertion messages.
impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit status {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// An app plugged with keyvalue-virt's control build: run its command and drive the control
/// interface around the runs.
///
/// A `wasi:cli` command runs once per instance (wasi-libc traps on a second `run`), so each
/// [`TestApp::run`] runs a fresh instance, as each `wasmtime run` does; control calls between
/// runs go to the instance the next run will use. What a test sets up carries over from one
/// instance to the next: the data (copied through the control interface with the memory
/// backend; the fs and redis backends keep it in their store), the call log (the calls of
/// earlier runs stay in [`TestApp::log`] until [`TestApp::clear_log`]) and its limit. Faults
/// added with [`TestApp::add_fault`] apply to the next run only, their `nth` counting its
/// calls; baked faults (`--fail`) count from the start of each run.
pub struct TestApp {
    pre: InstancePre<Host>,
    live: Live,
    configure: Box<dyn Fn(&mut WasiCtxBuilder) + Send>,
    /// Whether the data lives in the instance (memory backend) and must be copied over.
    copy_data: bool,
    /// The calls of earlier runs, oldest first, and how many were dropped.
    earlier: Vec<Call>,
    dropped: u64,
    limit: u32,
}

/// One instance of the plugged app, not yet run.
struct Live {
    store: Store<Host>,
    command: Command,
    control: Controlled,
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

/// The log limit of the control interface unless set.
const DEFAULT_LOG_LIMIT: u32 = 1000;

impl TestApp {
    /// Plugs `app` (a component that imports `wasi:keyvalue`) with the control build of
    /// keyvalue-virt, `config` baked in, as `keyvalue-virt plug --control` does, and
    /// instantiates it.
    ///
    /// # Errors
    ///
    /// Fails if the app cannot be plugged (it imports no `wasi:keyvalue`, or a shape no build
    /// exports), the configuration cannot be baked, or the result cannot be instantiated.
    pub fn plug(app: &[u8], config: &Config) -> Result<TestApp> {
        TestApp::load(&plug(app, config)?)
    }

    /// Instantiates `plugged`, an app plugged with `keyvalue-virt plug --control`.
    ///
    /// # Errors
    ///
    /// Fails if `plugged` does not export both `wasi:cli/run` and the control interface, or
    /// does not instantiate with WASI 0.2.
    pub fn load(plugged: &[u8]) -> Result<TestApp> {
        TestApp::load_with(plugged, |_| {})
    }

    /// [`TestApp::load`], with `configure` adding to each instance's WASI context, such as the
    /// store directory the fs backend is baked to use.
    ///
    /// # Errors
    ///
    /// As [`TestApp::load`].
    pub fn load_with(
        plugged: &[u8],
        configure: impl Fn(&mut WasiCtxBuilder) + Send + 'static,
    ) -> Result<TestApp> {
        let baked = keyvalue_virt_compose::bake::read(plugged)
            .context("failed to read the configuration baked into the plugged app")?
            .unwrap_or_default();
        let engine = engine()?;
        let component = Component::new(engine, plugged)
            .context("failed to compile the plugged app as a component")?;
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .context("failed to add WASI to the linker")?;
        let pre = linker
            .instantiate_pre(&component)
            .context("failed to link the plugged app with WASI 0.2")?;
        let configure: Box<dyn Fn(&mut WasiCtxBuilder) + Send> = Box::new(configure);
        let live = Live::new(&pre, &configure)?;
        Ok(TestApp {
            pre,
            live,
            configure,
            copy_data: baked.backend == BackendKind::Memory,
            earlier: Vec::new(),
            dropped: 0,
            limit: DEFAULT_LOG_LIMIT,
        })
    }

    /// Runs the app's `wasi:cli/run` with `args` (the program name `app` comes first) on the
    /// instance the control calls so far went to, and returns its exit status and what it
    /// wrote; then the next instance takes over (see [`TestApp`]).
    ///
    /// # Errors
    ///
    /// Fails if the app traps, other than by exiting, or the next instance cannot be set up.
    pub fn run(&mut self, args: &[&str]) -> Result<Run> {
        let stdout = MemoryOutputPipe::new(PIPE_CAPACITY);
        let stderr = MemoryOutputPipe::new(PIPE_CAPACITY);
        let mut builder = WasiCtxBuilder::new();
        (self.configure)(&mut builder);
        builder
            .arg("app")
            .args(args)
            .stdout(stdout.clone())
            .stderr(stderr.clone());
        let live = &mut self.live;
        live.store.data_mut().ctx = builder.build();
        let status = match live.command.wasi_cli_run().call_run(&mut live.store) {
            Ok(Ok(())) => 0,
            Ok(Err(())) => 1,
            Err(error) => match error.downcast_ref::<I32Exit>() {
                Some(I32Exit(status)) => *status,
                None => {
                    return Err(anyhow!("{error:?}").context(format!(
                        "the app trapped\n--- stderr ---\n{}",
                        String::from_utf8_lossy(&stderr.contents())
                    )));
                }
            },
        };
        self.next_instance()?;
        Ok(Run {
            status,
            stdout: String::from_utf8_lossy(&stdout.contents()).into_owned(),
            stderr: String::from_utf8_lossy(&stderr.contents()).into_owned(),
        })
    }

    /// Moves the data and the log of the instance that ran to a fresh one.
    fn next_instance(&mut self) -> Result<()> {
        let mut data = Vec::new();
        if self.copy_data {
            for bucket in self.buckets()? {
                for key in self.keys(&bucket)? {
                    if let Some(value) = self.get(&bucket, &key)? {
                        data.push((bucket.clone(), key, value));
                    }
                }
            }
        }
        let log = self.live_log()?;
        self.dropped += log.dropped;
        self.earlier.extend(log.calls);
        self.bound_log();
        self.live = Live::new(&self.pre, &self.configure)?;
        let limit = self.limit;
        let (kv, store) = self.kv();
        kv.call_set_log_limit(store, limit)
            .context("control `set-log-limit` trapped")?;
        for (bucket, key, value) in data {
            self.set(&bucket, &key, value)?;
        }
        Ok(())
    }

    /// Drops the oldest calls of earlier runs beyond the limit.
    fn bound_log(&mut self) {
        let limit = self.limit as usize;
        if self.earlier.len() > limit {
            let excess = self.earlier.len() - limit;
            self.earlier.drain(..excess);
            self.dropped += excess as u64;
        }
    }

    fn live_log(&mut self) -> Result<CallLog> {
        let (kv, store) = self.kv();
        kv.call_log(store).context("control `log` trapped")
    }

    fn kv(
        &mut self,
    ) -> (
        &bindings::exports::keyvalue_virt::control::control::Guest,
        &mut Store<Host>,
    ) {
        (
            self.live.control.keyvalue_virt_control_control(),
            &mut self.live.store,
        )
    }

    /// The buckets that hold at least one key, sorted.
    ///
    /// # Errors
    ///
    /// Fails if the store fails, or the instance traps.
    pub fn buckets(&mut self) -> Result<Vec<String>> {
        let (kv, store) = self.kv();
        answer("buckets", kv.call_buckets(store))
    }

    /// Every key of `bucket`, sorted.
    ///
    /// # Errors
    ///
    /// As [`TestApp::buckets`].
    pub fn keys(&mut self, bucket: &str) -> Result<Vec<String>> {
        let (kv, store) = self.kv();
        answer("keys", kv.call_keys(store, bucket))
    }

    /// The value of `key` in `bucket`, read past the baked policy.
    ///
    /// # Errors
    ///
    /// As [`TestApp::buckets`].
    pub fn get(&mut self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let (kv, store) = self.kv();
        answer("get", kv.call_get(store, bucket, key))
    }

    /// Stores `value` under `key` in `bucket`, past the baked policy.
    ///
    /// # Errors
    ///
    /// As [`TestApp::buckets`].
    pub fn set(&mut self, bucket: &str, key: &str, value: impl AsRef<[u8]>) -> Result<()> {
        let (kv, store) = self.kv();
        answer("set", kv.call_set(store, bucket, key, value.as_ref()))
    }

    /// Removes `key` from `bucket`.
    ///
    /// # Errors
    ///
    /// As [`TestApp::buckets`].
    pub fn delete(&mut self, bucket: &str, key: &str) -> Result<()> {
        let (kv, store) = self.kv();
        answer("delete", kv.call_delete(store, bucket, key))
    }

    /// Puts the store back to the baked seeds and clears the call log and the added faults.
    ///
    /// # Errors
    ///
    /// As [`TestApp::buckets`].
    pub fn reset(&mut self) -> Result<()> {
        self.earlier.clear();
        self.dropped = 0;
        let (kv, store) = self.kv();
        answer("reset", kv.call_reset(store))
    }

    /// The app's calls so far, over every run (the newest, up to the log's limit), and how
    /// many older ones were dropped.
    ///
    /// # Errors
    ///
    /// Fails if the instance traps.
    pub fn log(&mut self) -> Result<CallLog> {
        let live = self.live_log()?;
        let mut calls = self.earlier.clone();
        calls.extend(live.calls);
        let mut dropped = self.dropped + live.dropped;
        let limit = self.limit as usize;
        if calls.len() > limit {
            let excess = calls.len() - limit;
            calls.drain(..excess);
            dropped += excess as u64;
        }
        Ok(CallLog { calls, dropped })
    }

    /// The app's calls so far, oldest first.
    ///
    /// # Errors
    ///
    /// As [`TestApp::log`].
    pub fn calls(&mut self) -> Result<Vec<Call>> {
        Ok(self.log()?.calls)
    }

    /// Empties the call log.
    ///
    /// # Errors
    ///
    /// As [`TestApp::log`].
    pub fn clear_log(&mut self) -> Result<()> {
        self.earlier.clear();
        self.dropped = 0;
        let (kv, store) = self.kv();
        kv.call_clear_log(store)
            .context("control `clear-log` trapped")
    }

    /// Keeps at most `max` calls in the log (0: logging off).
    ///
    /// # Errors
    ///
    /// As [`TestApp::log`].
    pub fn set_log_limit(&mut self, max: u32) -> Result<()> {
        self.limit = max;
        self.bound_log();
        let (kv, store) = self.kv();
        kv.call_set_log_limit(store, max)
            .context("control `set-log-limit` trapped")
    }

    /// Makes the app's calls in the next run fail as `fault` says.
    ///
    /// # Errors
    ///
    /// Fails for a fault that could never fire (`nth` 0), or if the instance traps.
    pub fn add_fault(&mut self, fault: Fault) -> Result<()> {
        let fault = WitFault {
            op: fault.op,
            error: fault.error,
            nth: fault.nth,
            bucket: fault.bucket,
            key: fault.key,
        };
        let (kv, store) = self.kv();
        kv.call_add_fault(store, &fault)
            .context("control `add-fault` trapped")?
            .map_err(|message| anyhow!("control `add-fault` refused the fault: {message}"))
    }

    /// Removes the faults added with [`TestApp::add_fault`].
    ///
    /// # Errors
    ///
    /// As [`TestApp::log`].
    pub fn clear_faults(&mut self) -> Result<()> {
        let (kv, store) = self.kv();
        kv.call_clear_faults(store)
            .context("control `clear-faults` trapped")
    }

    /// Checks that the log holds exactly `times` calls of `op` that name `key` in `bucket`; the
    /// error says how many it saw and lists every logged call, like "expected 1 `set` of
    /// `alice` in bucket `""`, saw 0; calls: open `""`, get `alice` -> none".
    ///
    /// # Errors
    ///
    /// Fails when the count differs, or the log cannot be read.
    pub fn assert_called(&mut self, op: Op, bucket: &str, key: &str, times: usize) -> Result<()> {
        let log = self.log()?;
        let saw = log
            .calls
            .iter()
            .filter(|call| {
                call.op == op && call.bucket == bucket && call.keys.iter().any(|k| k == key)
            })
            .count();
        if saw != times {
            bail!(
                "expected {times} `{}` of `{key}` in bucket {:?}, saw {saw}; {}",
                op_name(op),
                bucket,
                describe_log(&log)
            );
        }
        Ok(())
    }

    /// Checks that the log holds exactly `times` calls of `op`, whatever their bucket and keys.
    ///
    /// # Errors
    ///
    /// As [`TestApp::assert_called`].
    pub fn assert_count(&mut self, op: Op, times: usize) -> Result<()> {
        let log = self.log()?;
        let saw = log.calls.iter().filter(|call| call.op == op).count();
        if saw != times {
            bail!(
                "expected {times} `{}`, saw {saw}; {}",
                op_name(op),
                describe_log(&log)
            );
        }
        Ok(())
    }
}

impl Live {
    /// A fresh instance, with `configure`'s WASI context.
    fn new(
        pre: &InstancePre<Host>,
        configure: &(dyn Fn(&mut WasiCtxBuilder) + Send),
    ) -> Result<Live> {
        let mut builder = WasiCtxBuilder::new();
        configure(&mut builder);
        let mut store = Store::new(
            pre.engine(),
            Host {
                ctx: builder.build(),
                table: ResourceTable::new(),
            },
        );
        let instance = pre
            .instantiate(&mut store)
            .context("failed to instantiate the plugged app")?;
        let command = Command::new(&mut store, &instance)
            .context("the plugged app does not export `wasi:cli/run`")?;
        let control = Controlled::new(&mut store, &instance).context(
            "the plugged app does not export `keyvalue-virt:control/control@0.1.0`; plug it \
             with `keyvalue-virt plug --control`",
        )?;
        Ok(Live {
            store,
            command,
            control,
        })
    }
}

/// Plugs `app` with the control build for the shape it imports, `config` baked in: what
/// `keyvalue-virt plug APP --control` writes, for [`TestApp::load_with`].
///
/// # Errors
///
/// As [`TestApp::plug`].
pub fn plug(app: &[u8], config: &Config) -> Result<Vec<u8>> {
    use keyvalue_virt_compose::{bake, control_virt_in, plug_control, shape_for};
    let shape = shape_for(app).context("failed to plug the app")?;
    let shipped = control_virt_in(shape);
    let virt = if *config == Config::default() {
        shipped.to_vec()
    } else {
        bake::bake(shipped, config).context("failed to bake the configuration")?
    };
    plug_control(app, &virt).context("failed to plug the app")
}

fn engine() -> Result<&'static Engine> {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    if let Some(engine) = ENGINE.get() {
        return Ok(engine);
    }
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    let engine = Engine::new(&config).context("failed to create the wasmtime engine")?;
    Ok(ENGINE.get_or_init(|| engine))
}

/// A control call's answer: a trap or the store's error become the error, named after `what`.
fn answer<T>(what: &str, result: wasmtime::Result<Result<T, Error>>) -> Result<T> {
    result
        .with_context(|| format!("control `{what}` trapped"))?
        .map_err(|error| anyhow!("control `{what}` failed: {}", ErrorText(&error)))
}

/// The name of `op`, as `--fail` and the trace write it.
pub fn op_name(op: Op) -> &'static str {
    match op {
        Op::Open => "open",
        Op::Get => "get",
        Op::Set => "set",
        Op::Delete => "delete",
        Op::Exists => "exists",
        Op::ListKeys => "list-keys",
        Op::Increment => "increment",
        Op::CasNew => "cas-new",
        Op::CasCurrent => "cas-current",
        Op::Swap => "swap",
        Op::GetMany => "get-many",
        Op::SetMany => "set-many",
        Op::DeleteMany => "delete-many",
    }
}

struct ErrorText<'a>(&'a Error);

impl fmt::Display for ErrorText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Error::NoSuchStore => f.write_str("no-such-store"),
            Error::AccessDenied => f.write_str("access-denied"),
            Error::Other(message) => write!(f, "other: {message}"),
        }
    }
}

/// One call as a line of an assertion message: `get \`alice\` -> none`.
pub fn describe_call(call: &Call) -> String {
    let mut line = op_name(call.op).to_owned();
    if call.keys.is_empty() {
        line.push_str(&format!(" {:?}", call.bucket));
    } else {
        if !call.bucket.is_empty() {
            line.push_str(&format!(" in {:?}", call.bucket));
        }
        let keys: Vec<String> = call.keys.iter().map(|key| format!("`{key}`")).collect();
        line.push(' ');
        line.push_str(&keys.join(" "));
    }
    if !call.sizes.is_empty() {
        let sizes: Vec<String> = call.sizes.iter().map(u64::to_string).collect();
        line.push_str(&format!(" ({} bytes)", sizes.join(", ")));
    }
    let outcome = match &call.outcome {
        Outcome::Ok => return line,
        Outcome::Value(size) => format!("{size} bytes"),
        Outcome::None => "none".to_owned(),
        Outcome::Flag(flag) => flag.to_string(),
        Outcome::Number(n) => n.to_string(),
        Outcome::BigNumber(n) => n.to_string(),
        Outcome::Page((keys, more)) => {
            format!("{keys} keys{}", if *more { ", more" } else { "" })
        }
        Outcome::Values(sizes) => {
            let sizes: Vec<String> = sizes
                .iter()
                .map(|size| size.map_or("none".to_owned(), |size| format!("{size} bytes")))
                .collect();
            format!("[{}]", sizes.join(", "))
        }
        Outcome::Failed(error) => format!("error {}", ErrorText(error)),
    };
    format!("{line} -> {outcome}")
}

fn describe_log(log: &CallLog) -> String {
    if log.calls.is_empty() {
        return "no calls logged".to_owned();
    }
    let calls: Vec<String> = log.calls.iter().map(describe_call).collect();
    let dropped = if log.dropped > 0 {
        format!(" ({} older calls dropped)", log.dropped)
    } else {
        String::new()
    };
    format!("calls{dropped}: {}", calls.join(", "))
}
