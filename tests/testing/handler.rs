//! [`HttpApp`]: a `wasi:http` handler app, served request by request through
//! `wasmtime-wasi-http` on one instance.

use std::fmt;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::error::Context;
use wasmtime::format_err as anyhow;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtxBuilder, runtime};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::sync::Proxy;

use crate::calls::{expect_called, expect_count, expect_value};
use crate::{Call, CallLog, Config, Fault, Instance, Op, PIPE_CAPACITY, Result};

/// A request for [`HttpApp::request`]: a method, a path, headers and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, such as `GET` or `POST`.
    pub method: String,
    /// The path and query, such as `/` or `/users?id=7`.
    pub path: String,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with `method` for `path`, no headers and an empty body.
    pub fn new(method: &str, path: &str) -> Request {
        Request {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `GET` of `path`.
    pub fn get(path: &str) -> Request {
        Request::new("GET", path)
    }

    /// A `POST` to `path` with `body`.
    pub fn post(path: &str, body: impl Into<Vec<u8>>) -> Request {
        Request::new("POST", path).body(body)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }
}

/// What the handler answered to one [`HttpApp::request`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, in order; values as bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body.
    pub body: Vec<u8>,
    /// What the handler wrote to stderr while it handled the request (the trace's lines, with
    /// `--trace`).
    pub stderr: String,
}

impl Response {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of the first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_slice())
    }
}

/// The status, the body and stderr, for assertion messages.
impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "status {}\n--- body ---\n{}\n--- stderr ---\n{}",
            self.status,
            self.text(),
            self.stderr
        )
    }
}

/// An HTTP handler app (it exports `wasi:http/incoming-handler`) plugged with keyvalue-virt's
/// control build: send it requests and drive the control interface around them.
///
/// Every request goes to one instance, kept for the `HttpApp`'s life, and the control calls go
/// to the same instance. So with the memory backend, whose data lives in the instance, the
/// data one request wrote is there for the next request and for the control interface, and so
/// are the call log and the faults added with [`HttpApp::add_fault`] (an `nth` counts the
/// calls of every request from when the fault was added; baked `--fail` faults count from the
/// instance's start). This is not what `wasmtime serve` does: it makes a fresh instance per
/// request, so there a memory-backed handler starts every request from the seeds. A handler
/// that keeps state of its own between requests (in globals) keeps it here too.
///
/// ```
/// use keyvalue_virt_testing::{Config, Error, Fault, HttpApp, Op, Request};
///
/// # fn main() -> keyvalue_virt_testing::Result<()> {
/// # let http_counter = std::fs::read(keyvalue_virt_artifacts::guests::HTTP_COUNTER)?;
/// // POST counts a request under `requests` in bucket "" and answers the count.
/// let mut app = HttpApp::plug(&http_counter, &Config::default())?;
/// app.set("", "requests", b"41")?;
/// let response = app.request(Request::post("/", ""))?;
/// assert_eq!((response.status, response.text().as_str()), (200, "42\n"), "{response}");
/// app.assert_value("", "requests", Some(b"42"))?;
///
/// app.add_fault(Fault::new(Op::Increment, Error::Other("disk on fire".into())))?;
/// let response = app.request(Request::post("/", ""))?;
/// assert_eq!(response.status, 500, "{response}");
/// app.assert_value("", "requests", Some(b"42"))?;
///
/// app.clear_faults()?;
/// assert_eq!(app.request(Request::post("/", ""))?.text(), "43\n");
/// # Ok(())
/// # }
/// ```
pub struct HttpApp {
    instance: Instance,
    proxy: Proxy,
    stderr: MemoryOutputPipe,
}

impl HttpApp {
    /// Plugs `app` (a `wasi:http` handler that imports `wasi:keyvalue`) with the control build
    /// of keyvalue-virt, `config` baked in, and instantiates it.
    ///
    /// # Errors
    ///
    /// As [`crate::TestApp::plug`].
    pub fn plug(app: &[u8], config: &Config) -> Result<HttpApp> {
        HttpApp::load(&crate::plug(app, config)?)
    }

    /// Instantiates `plugged`, a handler plugged with `keyvalue-virt plug --control`.
    ///
    /// # Errors
    ///
    /// Fails if `plugged` does not export both `wasi:http/incoming-handler` and the control
    /// interface, or does not instantiate with WASI 0.2 and `wasi:http`.
    pub fn load(plugged: &[u8]) -> Result<HttpApp> {
        HttpApp::load_with(plugged, |_| {})
    }

    /// [`HttpApp::load`], with `configure` adding to the instance's WASI context, such as the
    /// store directory the fs backend is baked to use.
    ///
    /// # Errors
    ///
    /// As [`HttpApp::load`].
    pub fn load_with(
        plugged: &[u8],
        configure: impl FnOnce(&mut WasiCtxBuilder),
    ) -> Result<HttpApp> {
        let pre = crate::prepare(plugged, true)?;
        let stderr = MemoryOutputPipe::new(PIPE_CAPACITY);
        let mut builder = WasiCtxBuilder::new();
        configure(&mut builder);
        builder.stderr(stderr.clone());
        let (mut instance, component) = Instance::new(&pre, builder.build())?;
        let proxy = Proxy::new(&mut instance.store, &component)
            .context("the plugged app does not export `wasi:http/incoming-handler@0.2.x`")?;
        Ok(HttpApp {
            instance,
            proxy,
            stderr,
        })
    }

    /// Sends `request` to the handler and returns its response.
    ///
    /// # Errors
    ///
    /// Fails if the request is malformed (a bad method, path or header), the handler traps,
    /// or it returns without a response or with an error instead of one.
    pub fn request(&mut self, request: Request) -> Result<Response> {
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(format!("http://localhost{}", request.path));
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let outgoing = builder
            .body(Full::new(Bytes::from(request.body)))
            .with_context(|| {
                format!(
                    "`{} {}` is not a valid request",
                    request.method, request.path
                )
            })?;
        let stderr_from = self.stderr.contents().len();
        let (sender, receiver) = std::sync::mpsc::channel();
        let store = &mut self.instance.store;
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, outgoing)?;
        // The body is read as the handler writes it, so that a body larger than the host's
        // buffer does not block the handler.
        let out = store
            .data_mut()
            .http()
            .new_response_outparam_from_callback(move |response| {
                let collected = response.map(|response| {
                    let (parts, body) = response.into_parts();
                    (parts, runtime::spawn(body.collect()))
                });
                let _ = sender.send(collected);
            })?;
        let handled =
            self.proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut *store, incoming, out);
        let stderr = String::from_utf8_lossy(&self.stderr.contents()[stderr_from..]).into_owned();
        handled.map_err(|error| {
            anyhow!("{error:?}").context(format!("the handler trapped\n--- stderr ---\n{stderr}"))
        })?;
        let (parts, body) = receiver
            .try_recv()
            .map_err(|_| {
                anyhow!("the handler returned without setting a response\n--- stderr ---\n{stderr}")
            })?
            .map_err(|code| {
                anyhow!("the handler answered with an error instead of a response: {code:?}")
            })?;
        let body = runtime::in_tokio(body)
            .map_err(|error| anyhow!("failed to read the response body: {error:?}"))?
            .to_bytes()
            .to_vec();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
                .collect(),
            body,
            stderr,
        })
    }

    /// The buckets that hold at least one key, sorted.
    ///
    /// # Errors
    ///
    /// Fails if the store fails, or the instance traps.
    pub fn buckets(&mut self) -> Result<Vec<String>> {
        self.instance.buckets()
    }

    /// Every key of `bucket`, sorted.
    ///
    /// # Errors
    ///
    /// As [`HttpApp::buckets`].
    pub fn keys(&mut self, bucket: &str) -> Result<Vec<String>> {
        self.instance.keys(bucket)
    }

    /// The value of `key` in `bucket`, read past the baked policy.
    ///
    /// # Errors
    ///
    /// As [`HttpApp::buckets`].
    pub fn get(&mut self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.instance.get(bucket, key)
    }

    /// Stores `value` under `key` in `bucket`, past the baked policy.
    ///
    /// # Errors
    ///
    /// As [`HttpApp::buckets`].
    pub fn set(&mut self, bucket: &str, key: &str, value: impl AsRef<[u8]>) -> Result<()> {
        self.instance.set(bucket, key, value.as_ref())
    }

    /// Removes `key` from `bucket`.
    ///
    /// # Errors
    ///
    /// As [`HttpApp::buckets`].
    pub fn delete(&mut self, bucket: &str, key: &str) -> Result<()> {
        self.instance.delete(bucket, key)
    }

    /// Puts the store back to the baked seeds and clears the call log and the added faults.
    ///
    /// # Errors
    ///
    /// As [`HttpApp::buckets`].
    pub fn reset(&mut self) -> Result<()> {
        self.instance.reset()
    }

    /// The handler's calls so far (the newest, up to the log's limit), and how many older ones
    /// were dropped.
    ///
    /// # Errors
    ///
    /// Fails if the instance traps.
    pub fn log(&mut self) -> Result<CallLog> {
        self.instance.log()
    }

    /// The handler's calls so far, oldest first.
    ///
    /// # Errors
    ///
    /// As [`HttpApp::log`].
    pub fn calls(&mut self) -> Result<Vec<Call>> {
        Ok(self.log()?.calls)
    }

    /// Empties the call log.
    ///
    /// # Errors
    ///
    /// As [`HttpApp::log`].
    pub fn clear_log(&mut self) -> Result<()> {
        self.instance.clear_log()
    }

    /// Keeps at most `max` calls in the log (0: logging off).
    ///
    /// # Errors
    ///
    /// As [`HttpApp::log`].
    pub fn set_log_limit(&mut self, max: u32) -> Result<()> {
        self.instance.set_log_limit(max)
    }

    /// Makes the handler's calls fail as `fault` says, until [`HttpApp::clear_faults`] (or,
    /// with an `nth`, once).
    ///
    /// # Errors
    ///
    /// Fails for a fault that could never fire (`nth` 0), or if the instance traps.
    pub fn add_fault(&mut self, fault: Fault) -> Result<()> {
        self.instance.add_fault(fault)
    }

    /// Removes the faults added with [`HttpApp::add_fault`].
    ///
    /// # Errors
    ///
    /// As [`HttpApp::log`].
    pub fn clear_faults(&mut self) -> Result<()> {
        self.instance.clear_faults()
    }

    /// As [`crate::TestApp::assert_called`].
    ///
    /// # Errors
    ///
    /// Fails when the count differs, or the log cannot be read.
    pub fn assert_called(&mut self, op: Op, bucket: &str, key: &str, times: usize) -> Result<()> {
        expect_called(&self.log()?, op, bucket, key, times)
    }

    /// As [`crate::TestApp::assert_count`].
    ///
    /// # Errors
    ///
    /// As [`HttpApp::assert_called`].
    pub fn assert_count(&mut self, op: Op, times: usize) -> Result<()> {
        expect_count(&self.log()?, op, times)
    }

    /// As [`crate::TestApp::assert_value`].
    ///
    /// # Errors
    ///
    /// Fails when the value differs, or the store or the log cannot be read.
    pub fn assert_value(&mut self, bucket: &str, key: &str, expected: Option<&[u8]>) -> Result<()> {
        let found = self.get(bucket, key)?;
        expect_value(&self.log()?, bucket, key, found.as_deref(), expected)
    }
}
