//! A `wasmtime serve` process on a free loopback port, for the tests and the bench that load an
//! HTTP app through the real CLI.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::GUEST_DIR;

/// Bounds that turn a hung server into a failure rather than a hung run (never waits for
/// correctness).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);
const CONNECT_ATTEMPTS: u32 = 100;

/// A `wasmtime serve` process, killed and reaped when dropped (also when a test fails).
pub struct Serve {
    child: Child,
    /// The address it serves on.
    pub addr: SocketAddr,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    /// Serves `component` with `wasmtime serve -S cli FLAGS` on a port the OS picks, `dir`
    /// granted at [`GUEST_DIR`]; returns once the printed address accepts connections.
    pub fn start(component: &Path, dir: &Path, flags: &[&str]) -> Serve {
        let mut child = Command::new("wasmtime")
            .arg("serve")
            // Where `.ci/setup` builds wasmtime from source, it has no pooling allocator, `serve`'s default.
            .args(["-O", "pooling-allocator=n", "-S", "cli"])
            .args(flags)
            .args(["--addr", "127.0.0.1:0", "--dir"])
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
        // the line that names the address goes to the caller, every line to `seen`.
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
        let mut serve = Serve {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let addr = match addr_rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(Ok(addr)) => addr,
            Ok(Err(stderr)) => panic!("`wasmtime serve` exited before serving:\n{stderr}"),
            Err(e) => panic!("`wasmtime serve` printed no address ({e})"),
        };
        serve.addr = addr
            .parse()
            .unwrap_or_else(|e| panic!("`wasmtime serve` printed a bad address `{addr}`: {e}"));
        serve.wait_until_connectable();
        serve
    }

    /// The URL it serves: `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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
}
