//! The HTTP example (`tests/http-counter`, a `wasi:http/incoming-handler` that counts requests
//! with draft2's `increment`) plugged with the fs backend as `keyvalue-virt plug --backend fs
//! --dir /kv` does, served by the `wasmtime serve` CLI on a free loopback port and hit by
//! concurrent requests: each gets a distinct count, and the count equals the requests made.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Barrier, mpsc};
use std::time::Duration;

use keyvalue_virt_artifacts::guests::HTTP_COUNTER;
use keyvalue_virt_harness::{GUEST_DIR, fs_config, plug_as_cli, read, scratch_dir, store_dir};

/// How many requests the test sends at once.
const REQUESTS: usize = 24;

/// Bounds that turn a hung server into a failure rather than a hung test (never waits for
/// correctness).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
const IO_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_ATTEMPTS: u32 = 100;

/// A `wasmtime serve` process, killed and reaped when dropped (also when the test fails).
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Starts `wasmtime serve` on a port the OS picks and reads the address it prints.
    fn start(component: &Path, dir: &Path) -> Server {
        let mut child = Command::new("wasmtime")
            .arg("serve")
            // Where `.ci/setup` builds wasmtime from source, it has no pooling allocator, `serve`'s default.
            .args([
                "-O",
                "pooling-allocator=n",
                "-S",
                "cli",
                "--addr",
                "127.0.0.1:0",
            ])
            .arg("--dir")
            .arg(format!("{}::{GUEST_DIR}", dir.display()))
            .arg(component)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("failed to start `wasmtime serve` ({e}); `bash .ci/setup` installs it")
            });
        let stderr = child.stderr.take().expect("stderr is piped");
        // Reads stderr to its end on a thread, so that the server never blocks on a full pipe;
        // the line that names the address goes to the test, every line to `lines`.
        let (addr_tx, addr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = String::new();
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.strip_prefix("Serving HTTP on http://") {
                    let _ = addr_tx.send(Ok(rest.trim_end_matches('/').to_owned()));
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            let _ = addr_tx.send(Err(seen));
        });
        let mut server = Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let addr = match addr_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(addr)) => addr,
            Ok(Err(stderr)) => panic!("`wasmtime serve` exited before serving:\n{stderr}"),
            Err(e) => panic!("`wasmtime serve` printed no address ({e})"),
        };
        server.addr = addr
            .parse()
            .unwrap_or_else(|e| panic!("`wasmtime serve` printed a bad address `{addr}`: {e}"));
        server.wait_until_connectable();
        server
    }

    /// Polls `connect` a bounded number of times.
    fn wait_until_connectable(&self) {
        for _ in 0..CONNECT_ATTEMPTS {
            if TcpStream::connect(self.addr).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "`wasmtime serve` accepts no connection on {} after {CONNECT_ATTEMPTS} attempts",
            self.addr
        );
    }

    /// Sends one `method /` request; returns the status and the body.
    fn request(&self, method: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.addr)
            .unwrap_or_else(|e| panic!("failed to connect to {}: {e}", self.addr));
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        write!(
            stream,
            "{method} / HTTP/1.1\r\nhost: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .unwrap_or_else(|e| panic!("failed to read the response to {method}: {e}"));
        parse_response(&response)
    }
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
    let server = Server::start(&component, &dir);

    let (status, body) = server.request("GET");
    assert_eq!(count(status, &body), 0);
    let barrier = Barrier::new(REQUESTS);
    let mut counts: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..REQUESTS)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let (status, body) = server.request("POST");
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
    let (status, body) = server.request("GET");
    assert_eq!(count(status, &body), REQUESTS);
    let (status, body) = server.request("PUT");
    assert_eq!(status, 405, "{body}");
    drop(server);
    assert!(
        dir.join("FORMAT").is_file(),
        "the count is not kept in the store directory"
    );
}
