//! The HTTP example (`tests/http-counter`, a `wasi:http/incoming-handler` that counts requests
//! with draft2's `increment`) plugged with the fs backend as `keyvalue-virt plug --backend fs
//! --dir /kv` does, served by the `wasmtime serve` CLI on a free loopback port and hit by
//! concurrent requests: each gets a distinct count, and the count equals the requests made.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Barrier;
use std::time::Duration;

use keyvalue_virt_artifacts::guests::HTTP_COUNTER;
use keyvalue_virt_harness::serve::Serve;
use keyvalue_virt_harness::{fs_config, plug_as_cli, read, scratch_dir, store_dir};

/// How many requests the test sends at once.
const REQUESTS: usize = 24;

/// Bounds a request's reads and writes, so that a hung server fails the test rather than
/// hanging it.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends one `method /` request to `server`; returns the status and the body.
fn request(server: &Serve, method: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(server.addr)
        .unwrap_or_else(|e| panic!("failed to connect to {}: {e}", server.addr));
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(
        stream,
        "{method} / HTTP/1.1\r\nhost: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        server.addr
    )
    .unwrap();
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .unwrap_or_else(|e| panic!("failed to read the response to {method}: {e}"));
    parse_response(&response)
}

/// The status and body of an HTTP/1.1 response (`content-length` or chunked).
fn parse_response(response: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("a response without a header end: {text:?}"));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a response without a status: {text:?}"));
    let chunked = head
        .lines()
        .any(|line| line.eq_ignore_ascii_case("transfer-encoding: chunked"));
    if !chunked {
        return (status, body.to_owned());
    }
    let mut decoded = String::new();
    let mut rest = body;
    loop {
        let (size, after) = rest
            .split_once("\r\n")
            .unwrap_or_else(|| panic!("a chunk without a size line: {text:?}"));
        let size = usize::from_str_radix(size.trim(), 16)
            .unwrap_or_else(|e| panic!("a bad chunk size `{size}` ({e}): {text:?}"));
        if size == 0 {
            return (status, decoded);
        }
        let chunk = after
            .get(..size)
            .unwrap_or_else(|| panic!("a chunk cut short: {text:?}"));
        decoded.push_str(chunk);
        rest = after.get(size + 2..).unwrap_or_default();
    }
}

/// The count a response body carries.
fn count(status: u16, body: &str) -> usize {
    assert_eq!(status, 200, "a request failed: {body}");
    body.trim()
        .parse()
        .unwrap_or_else(|e| panic!("the body `{body}` is no count: {e}"))
}

#[test]
fn wasmtime_serve_counts_concurrent_requests_exactly_with_the_fs_backend() {
    let component = scratch_dir().join("serve-http-counter.wasm");
    std::fs::write(
        &component,
        plug_as_cli(&read(Path::new(HTTP_COUNTER)), &fs_config()),
    )
    .unwrap();
    let dir = store_dir("serve-http-counter");
    let server = Serve::start(&component, &dir, &[]);

    let (status, body) = request(&server, "GET");
    assert_eq!(count(status, &body), 0);
    let barrier = Barrier::new(REQUESTS);
    let mut counts: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..REQUESTS)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let (status, body) = request(&server, "POST");
                    count(status, &body)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a request thread panicked"))
            .collect()
    });
    counts.sort_unstable();
    assert_eq!(counts, (1..=REQUESTS).collect::<Vec<_>>());
    let (status, body) = request(&server, "GET");
    assert_eq!(count(status, &body), REQUESTS);
    let (status, body) = request(&server, "PUT");
    assert_eq!(status, 405, "{body}");
    drop(server);
    assert!(
        dir.join("FORMAT").is_file(),
        "the count is not kept in the store directory"
    );
}
