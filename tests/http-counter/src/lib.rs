//! The HTTP example app: a `wasi:http/incoming-handler` that counts requests in
//! `wasi:keyvalue@0.2.0-draft2`. `POST` (any path) counts the request with `increment` and
//! answers the new count; `GET` answers the count without counting; other methods get 405.
//! Each answer is the count in decimal and a newline, or the key-value error with status 500.
//!
//! Plugged with keyvalue-virt's fs backend it serves on `wasmtime serve`, every request in a
//! fresh instance, and the count is exact under concurrent requests (tests/e2e/serve.rs).

// Only a component: built natively (`cargo build --workspace`) the crate is empty, since the
// component's imports would not link.
#![cfg(target_arch = "wasm32")]

mod bindings {
    wit_bindgen::generate!({
        path: [
            "../../wit/deps/io-0.2.0",
            "../../wit/deps/clocks-0.2.0",
            "../../wit/deps/keyvalue-0.2.0-draft2",
            "wit",
        ],
        world: "keyvalue-virt:http-counter/http-counter",
        generate_all,
    });

    use super::Counter;
    export!(Counter);
}

use bindings::exports::wasi::http::incoming_handler::Guest;
use bindings::wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use bindings::wasi::keyvalue::{atomics, store};

/// The bucket and key that hold the count.
const BUCKET: &str = "";
const KEY: &str = "requests";

struct Counter;

impl Guest for Counter {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let (status, body) = match request.method() {
            Method::Post => answer(count()),
            Method::Get => answer(current()),
            _ => (
                405,
                "use POST to count a request, GET to read the count\n".into(),
            ),
        };
        respond(response_out, status, &body);
    }
}

/// Counts this request; returns the new count.
fn count() -> Result<i64, store::Error> {
    let bucket = store::open(BUCKET)?;
    atomics::increment(&bucket, KEY, 1)
}

/// The count so far (0 before the first request).
fn current() -> Result<i64, store::Error> {
    let bucket = store::open(BUCKET)?;
    match bucket.get(KEY)? {
        None => Ok(0),
        Some(value) => String::from_utf8_lossy(&value)
            .parse()
            .map_err(|_| store::Error::Other(format!("`{KEY}` holds no count: {value:?}"))),
    }
}

/// The status and body for a count or a key-value error.
fn answer(result: Result<i64, store::Error>) -> (u16, String) {
    match result {
        Ok(count) => (200, format!("{count}\n")),
        Err(store::Error::NoSuchStore) => (500, "key-value error: no such store\n".into()),
        Err(store::Error::AccessDenied) => (500, "key-value error: access denied\n".into()),
        Err(store::Error::Other(message)) => (500, format!("key-value error: {message}\n")),
    }
}

/// Sends a `text/plain` response with `status` and `body`.
fn respond(response_out: ResponseOutparam, status: u16, body: &str) {
    let headers = Fields::new();
    // Neither can fail: the name and value are valid and the fields are ours to change.
    let _ = headers.append("content-type", b"text/plain");
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let Ok(outgoing) = response.body() else {
        unreachable!("the body of a new response is taken once");
    };
    ResponseOutparam::set(response_out, Ok(response));
    if let Ok(stream) = outgoing.write() {
        // The body is a few bytes, far below the 4096 one call may write; a failed write means
        // the client went away, and there is no one left to tell.
        let _ = stream.blocking_write_and_flush(body.as_bytes());
    }
    let _ = OutgoingBody::finish(outgoing, None);
}
