//! [`TestApp`]: a `wasi:cli` command app, run once per instance, with the data and the call log
//! carried from each run's instance to the next.

use std::fmt;

use keyvalue_virt_compose::config::BackendKind;
use wasmtime::component::InstancePre;
use wasmtime::error::Context;
use wasmtime::format_err as anyhow;
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtxBuilder};

use crate::calls::{expect_called, expect_count, expect_value};
use crate::{
    Call, CallLog, Config, DEFAULT_LOG_LIMIT, Fault, Host, Instance, Op, PIPE_CAPACITY, Result,
};

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
    instance: Instance,
    command: Command,
}

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
        TestApp::load(&crate::plug(app, config)?)
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
        let pre = crate::prepare(plugged, false)?;
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
        let store = &mut live.instance.store;
        store.data_mut().ctx = builder.build();
        let status = match live.command.wasi_cli_run().call_run(&mut *store) {
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
        let log = self.live.instance.log()?;
        self.dropped += log.dropped;
        self.earlier.extend(log.calls);
        self.bound_log();
        self.live = Live::new(&self.pre, &self.configure)?;
        self.live.instance.set_log_limit(self.limit)?;
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

    /// The buckets that hold at least one key, sorted.
    ///
    /// # Errors
    ///
    /// Fails if the store fails, or the instance traps.
    pub fn buckets(&mut self) -> Result<Vec<String>> {
        self.live.instance.buckets()
    }

    /// Every key of `bucket`, sorted.
    ///
    /// # Errors
    ///
    /// As [`TestApp::buckets`].
    pub fn keys(&mut self, bucket: &str) -> Result<Vec<String>> {
        self.live.instance.keys(bucket)
    }

    /// The value of `key` in `bucket`, read past the baked policy.
    ///
    /// # Errors
    ///
    /// As [`TestApp::buckets`].
    pub fn get(&mut self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.live.instance.get(bucket, key)
    }

    /// Stores `value` under `key` in `bucket`, past the baked policy.
    ///
    /// # Errors
    ///
    /// As [`TestApp::buckets`].
    pub fn set(&mut self, bucket: &str, key: &str, value: impl AsRef<[u8]>) -> Result<()> {
        self.live.instance.set(bucket, key, value.as_ref())
    }

    /// Removes `key` from `bucket`.
    ///
    /// # Errors
    ///
    /// As [`TestApp::buckets`].
    pub fn delete(&mut self, bucket: &str, key: &str) -> Result<()> {
        self.live.instance.delete(bucket, key)
    }

    /// Puts the store back to the baked seeds and clears the call log and the added faults.
    ///
    /// # Errors
    ///
    /// As [`TestApp::buckets`].
    pub fn reset(&mut self) -> Result<()> {
        self.earlier.clear();
        self.dropped = 0;
        self.live.instance.reset()
    }

    /// The app's calls so far, over every run (the newest, up to the log's limit), and how
    /// many older ones were dropped.
    ///
    /// # Errors
    ///
    /// Fails if the instance traps.
    pub fn log(&mut self) -> Result<CallLog> {
        let live = self.live.instance.log()?;
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
        self.live.instance.clear_log()
    }

    /// Keeps at most `max` calls in the log (0: logging off).
    ///
    /// # Errors
    ///
    /// As [`TestApp::log`].
    pub fn set_log_limit(&mut self, max: u32) -> Result<()> {
        self.limit = max;
        self.bound_log();
        self.live.instance.set_log_limit(max)
    }

    /// Makes the app's calls in the next run fail as `fault` says.
    ///
    /// # Errors
    ///
    /// Fails for a fault that could never fire (`nth` 0), or if the instance traps.
    pub fn add_fault(&mut self, fault: Fault) -> Result<()> {
        self.live.instance.add_fault(fault)
    }

    /// Removes the faults added with [`TestApp::add_fault`].
    ///
    /// # Errors
    ///
    /// As [`TestApp::log`].
    pub fn clear_faults(&mut self) -> Result<()> {
        self.live.instance.clear_faults()
    }

    /// Checks that the log holds exactly `times` calls of `op` that name `key` in `bucket`; the
    /// error says how many it saw and lists every logged call, like "expected 1 `set` of
    /// `alice` in bucket `""`, saw 0; calls: open `""`, get `alice` -> none".
    ///
    /// # Errors
    ///
    /// Fails when the count differs, or the log cannot be read.
    pub fn assert_called(&mut self, op: Op, bucket: &str, key: &str, times: usize) -> Result<()> {
        expect_called(&self.log()?, op, bucket, key, times)
    }

    /// Checks that the log holds exactly `times` calls of `op`, whatever their bucket and keys.
    ///
    /// # Errors
    ///
    /// As [`TestApp::assert_called`].
    pub fn assert_count(&mut self, op: Op, times: usize) -> Result<()> {
        expect_count(&self.log()?, op, times)
    }

    /// Checks that `key` in `bucket` holds `expected` (`None`: no value); the error shows both
    /// values and lists every logged call, like "expected `alice` in bucket `""` to hold "42",
    /// it holds "41"; calls: ...".
    ///
    /// # Errors
    ///
    /// Fails when the value differs, or the store or the log cannot be read.
    pub fn assert_value(&mut self, bucket: &str, key: &str, expected: Option<&[u8]>) -> Result<()> {
        let found = self.get(bucket, key)?;
        expect_value(&self.log()?, bucket, key, found.as_deref(), expected)
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
        let (mut instance, component) = Instance::new(pre, builder.build())?;
        let command = Command::new(&mut instance.store, &component)
            .context("the plugged app does not export `wasi:cli/run`")?;
        Ok(Live { instance, command })
    }
}
