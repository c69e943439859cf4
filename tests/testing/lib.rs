//! Test an app that imports `wasi:keyvalue` with keyvalue-virt as a live test double: seed the
//! store, run the app, assert on the data and on the calls it made, inject a fault, run again.
//!
//! The app is plugged with the control build of keyvalue-virt (what `keyvalue-virt plug
//! --control` does), or loaded already plugged that way, and instantiated in wasmtime embedded.
//! Both of the composed component's exports are served on the same instance: the app's own and
//! keyvalue-virt's control interface (`keyvalue-virt:control/control@0.1.0`). Two drivers:
//!
//! - [`TestApp`] runs a `wasi:cli` command ([`TestApp::run`]: arguments in, exit status and
//!   output out). A command runs once per instance, so each run gets a fresh one; the data and
//!   the call log carry over to the next run's instance (see [`TestApp`]).
//! - [`HttpApp`] serves a `wasi:http` handler through `wasmtime-wasi-http`
//!   ([`HttpApp::request`]: a [`Request`] in, a [`Response`] out). Every request goes to the same
//!   instance (see [`HttpApp`]), so the data the handler wrote, even with the memory backend, is
//!   what the control interface reads.
//!
//! Both give typed access to the control interface (`get`, `set`, `reset`, `log`,
//! `add_fault`, ...) and assertions that explain themselves: a failed
//! [`TestApp::assert_called`] lists what the app did, from the call log.
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

mod calls;
mod command;
mod handler;

use std::fmt;

use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::error::Context;
use wasmtime::format_err as anyhow;
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

pub use calls::{describe_call, op_name};
pub use command::{Run, TestApp};
pub use handler::{HttpApp, Request, Response};
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

/// The most a run (or, for an HTTP handler, an instance) may write to stdout or stderr; beyond
/// it the write traps.
const PIPE_CAPACITY: usize = 16 << 20;

/// The log limit of the control interface unless set.
const DEFAULT_LOG_LIMIT: u32 = 1000;

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

/// What the store of every instance holds: WASI, and `wasi:http` for handlers.
struct Host {
    ctx: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    hooks: Hooks,
}

/// `wasi:http`'s defaults, except that an outgoing request is denied: the crate leaves out
/// wasmtime-wasi-http's HTTP client and TLS (its default features), since the handler under
/// test has no server to call.
struct Hooks;

/// What [`Hooks::send_request`] returns.
type Sent = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<wasmtime_wasi_http::WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        _: http::Request<wasmtime_wasi_http::WasiBody>,
        _: Option<wasmtime_wasi_http::RequestOptions>,
        _: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Sent {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

impl Host {
    fn new(ctx: WasiCtx) -> Host {
        Host {
            ctx,
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            hooks: Hooks,
        }
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// One instance of the plugged app, with its control interface: the calls every driver makes.
struct Instance {
    store: Store<Host>,
    control: Controlled,
}

impl Instance {
    /// Instantiates `pre` with `ctx`; returns the instance for the driver's own exports too.
    fn new(
        pre: &InstancePre<Host>,
        ctx: WasiCtx,
    ) -> Result<(Instance, wasmtime::component::Instance)> {
        let mut store = Store::new(pre.engine(), Host::new(ctx));
        let instance = pre
            .instantiate(&mut store)
            .context("failed to instantiate the plugged app")?;
        let control = Controlled::new(&mut store, &instance).context(
            "the plugged app does not export `keyvalue-virt:control/control@0.1.0`; plug it \
             with `keyvalue-virt plug --control`",
        )?;
        Ok((Instance { store, control }, instance))
    }

    fn kv(
        &mut self,
    ) -> (
        &bindings::exports::keyvalue_virt::control::control::Guest,
        &mut Store<Host>,
    ) {
        (
            self.control.keyvalue_virt_control_control(),
            &mut self.store,
        )
    }

    fn buckets(&mut self) -> Result<Vec<String>> {
        let (kv, store) = self.kv();
        answer("buckets", kv.call_buckets(store))
    }

    fn keys(&mut self, bucket: &str) -> Result<Vec<String>> {
        let (kv, store) = self.kv();
        answer("keys", kv.call_keys(store, bucket))
    }

    fn get(&mut self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let (kv, store) = self.kv();
        answer("get", kv.call_get(store, bucket, key))
    }

    fn set(&mut self, bucket: &str, key: &str, value: &[u8]) -> Result<()> {
        let (kv, store) = self.kv();
        answer("set", kv.call_set(store, bucket, key, value))
    }

    fn delete(&mut self, bucket: &str, key: &str) -> Result<()> {
        let (kv, store) = self.kv();
        answer("delete", kv.call_delete(store, bucket, key))
    }

    fn reset(&mut self) -> Result<()> {
        let (kv, store) = self.kv();
        answer("reset", kv.call_reset(store))
    }

    fn log(&mut self) -> Result<CallLog> {
        let (kv, store) = self.kv();
        kv.call_log(store).context("control `log` trapped")
    }

    fn clear_log(&mut self) -> Result<()> {
        let (kv, store) = self.kv();
        kv.call_clear_log(store)
            .context("control `clear-log` trapped")
    }

    fn set_log_limit(&mut self, max: u32) -> Result<()> {
        let (kv, store) = self.kv();
        kv.call_set_log_limit(store, max)
            .context("control `set-log-limit` trapped")
    }

    fn add_fault(&mut self, fault: Fault) -> Result<()> {
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

    fn clear_faults(&mut self) -> Result<()> {
        let (kv, store) = self.kv();
        kv.call_clear_faults(store)
            .context("control `clear-faults` trapped")
    }
}

/// Compiles `plugged` and links it with WASI 0.2 (and `wasi:http` when `http`).
fn prepare(plugged: &[u8], http: bool) -> Result<InstancePre<Host>> {
    let engine = engine()?;
    let component = Component::new(engine, plugged)
        .context("failed to compile the plugged app as a component")?;
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
        .context("failed to add WASI to the linker")?;
    if http {
        wasmtime_wasi_http::p2::add_only_http_to_linker_sync(&mut linker)
            .context("failed to add `wasi:http` to the linker")?;
    }
    linker
        .instantiate_pre(&component)
        .context("failed to link the plugged app with WASI 0.2")
}

/// Plugs `app` with the control build for the shape it imports, `config` baked in: what
/// `keyvalue-virt plug APP --control` writes, for [`TestApp::load_with`] and
/// [`HttpApp::load_with`].
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

/// An error as `--fail` writes it: `access-denied`, `other: MESSAGE`.
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
