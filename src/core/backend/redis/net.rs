//! One TCP connection, with every wait bounded by the deadline of the call it serves: over
//! `std::net` natively, over `wasi:sockets` in the component (polling the stream together with
//! a monotonic-clock timer, so that a server that stops answering costs the timeout, never a
//! hang). A call takes one [`Deadline`] for its whole run (connecting, sending, every chunk of
//! every reply, retries), so a server that trickles its reply cannot stretch it.

use crate::prelude::*;

/// Why a connection failed, for messages.
pub type Cause = String;

/// What a wait past the deadline reports.
fn timed_out(what: &str, deadline: &Deadline) -> Cause {
    format!(
        "no {what} within {} ms (--timeout-ms bounds a whole call); the server may be overloaded or stopped",
        deadline.timeout_ms
    )
}

/// When a call must be over: `timeout_ms` after it started.
#[derive(Clone, Copy)]
pub struct Deadline {
    /// The instant, as [`now_ns`] counts.
    at_ns: u64,
    /// The timeout it was made from, for messages.
    timeout_ms: u64,
}

impl Deadline {
    /// The deadline `timeout_ms` from now.
    pub fn after(timeout_ms: u64) -> Deadline {
        Deadline {
            at_ns: now_ns().saturating_add(timeout_ms.saturating_mul(1_000_000)),
            timeout_ms,
        }
    }

    /// Nanoseconds left (0 once passed).
    pub fn remaining_ns(&self) -> u64 {
        self.at_ns.saturating_sub(now_ns())
    }

    /// Sleeps for `ms`, or until the deadline if that comes first; `false` if nothing is left.
    pub fn sleep(&self, ms: u64) -> bool {
        let ns = self.remaining_ns().min(ms.saturating_mul(1_000_000));
        if ns == 0 {
            return false;
        }
        sleep_ns(ns);
        self.remaining_ns() > 0
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn now_ns() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(not(target_arch = "wasm32"))]
fn sleep_ns(ns: u64) {
    std::thread::sleep(std::time::Duration::from_nanos(ns));
}

#[cfg(target_arch = "wasm32")]
fn now_ns() -> u64 {
    crate::wasi::clocks::monotonic_clock::now()
}

#[cfg(target_arch = "wasm32")]
fn sleep_ns(ns: u64) {
    crate::wasi::clocks::monotonic_clock::subscribe_duration(ns).block();
}

/// What the end of the stream reports.
const CLOSED: &str = "the server closed the connection";

/// Non-blocking reads a read tries before it waits. A reply on loopback or a LAN arrives
/// within tens of microseconds, and a blocking wait costs the wake-up of a sleeping thread (two
/// in wasmtime-wasi, where a runtime worker completes the guest's `poll`): on an idle machine
/// that doubled a round trip. Bounded, so that a slow command costs at most a few hundred
/// microseconds of CPU before the thread sleeps.
const SPIN_READS: u32 = 500;

#[cfg(not(target_arch = "wasm32"))]
pub use self::native::Tcp;
#[cfg(target_arch = "wasm32")]
pub use self::wasi::Tcp;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;

    use super::{CLOSED, Cause, Deadline, SPIN_READS, timed_out};
    use crate::prelude::*;

    /// A connected socket.
    pub struct Tcp {
        stream: TcpStream,
    }

    /// The time left before `deadline`, or the timeout error for `what`.
    fn left(deadline: &Deadline, what: &str) -> Result<Duration, Cause> {
        match deadline.remaining_ns() {
            0 => Err(timed_out(what, deadline)),
            ns => Ok(Duration::from_nanos(ns)),
        }
    }

    impl Tcp {
        /// Connects to `host:port`, trying each address the name resolves to.
        pub fn connect(host: &str, port: u16, deadline: &Deadline) -> Result<Tcp, Cause> {
            let addrs = (host, port)
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve `{host}`: {e}"))?;
            let mut last = format!("`{host}` resolves to no address");
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, left(deadline, "connection")?) {
                    Ok(stream) => {
                        stream.set_nodelay(true).map_err(|e| e.to_string())?;
                        return Ok(Tcp { stream });
                    }
                    Err(e) if e.kind() == ErrorKind::TimedOut => {
                        last = timed_out("connection", deadline)
                    }
                    Err(e) => last = format!("cannot connect: {e}"),
                }
            }
            Err(last)
        }

        /// Whether the server closed the connection (or sent something unasked) since the
        /// last reply: a non-blocking peek, so that a dead connection is replaced before a
        /// command is sent on it.
        pub fn is_stale(&mut self) -> bool {
            if self.stream.set_nonblocking(true).is_err() {
                return true;
            }
            let stale = match self.stream.peek(&mut [0]) {
                Err(e) => e.kind() != ErrorKind::WouldBlock,
                // `Ok(0)`: the end of the stream; more: bytes no command asked for.
                Ok(_) => true,
            };
            self.stream.set_nonblocking(false).is_err() || stale
        }

        /// Sends all of `bytes` before `deadline`.
        pub fn write_all(&mut self, mut bytes: &[u8], deadline: &Deadline) -> Result<(), Cause> {
            while !bytes.is_empty() {
                let left = left(deadline, "progress sending")?;
                self.stream
                    .set_write_timeout(Some(left))
                    .map_err(|e| e.to_string())?;
                match self.stream.write(bytes) {
                    Ok(0) => return Err(CLOSED.into()),
                    Ok(n) => bytes = &bytes[n..],
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        return Err(timed_out("progress sending", deadline));
                    }
                    Err(e) => return Err(format!("cannot send: {e}")),
                }
            }
            Ok(())
        }

        /// Appends at least one received byte to `buf`, before `deadline`: up to
        /// [`SPIN_READS`] non-blocking reads first, then a read that waits.
        pub fn read(&mut self, buf: &mut Vec<u8>, deadline: &Deadline) -> Result<(), Cause> {
            let mut chunk = [0; 16 << 10];
            if let Some(n) = self.spin(&mut chunk)? {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(());
            }
            loop {
                let left = left(deadline, "reply")?;
                self.stream
                    .set_read_timeout(Some(left))
                    .map_err(|e| e.to_string())?;
                return match self.stream.read(&mut chunk) {
                    Ok(0) => Err(CLOSED.into()),
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        Ok(())
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                        Err(timed_out("reply", deadline))
                    }
                    Err(e) => Err(format!("cannot receive: {e}")),
                };
            }
        }

        /// Up to [`SPIN_READS`] non-blocking reads into `chunk`: the bytes read, or `None`
        /// when nothing came.
        fn spin(&mut self, chunk: &mut [u8]) -> Result<Option<usize>, Cause> {
            self.stream
                .set_nonblocking(true)
                .map_err(|e| e.to_string())?;
            let mut got = Ok(None);
            for _ in 0..SPIN_READS {
                got = match self.stream.read(chunk) {
                    Ok(0) => Err(CLOSED.into()),
                    Ok(n) => Ok(Some(n)),
                    Err(e)
                        if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) =>
                    {
                        core::hint::spin_loop();
                        continue;
                    }
                    Err(e) => Err(format!("cannot receive: {e}")),
                };
                break;
            }
            self.stream
                .set_nonblocking(false)
                .map_err(|e| e.to_string())?;
            got
        }
    }
}

/// What the component's first read of a reply asks for.
#[cfg(target_arch = "wasm32")]
const FIRST_READ: u64 = 16 << 10;

#[cfg(target_arch = "wasm32")]
mod wasi {
    use super::{CLOSED, Cause, Deadline, FIRST_READ, SPIN_READS, timed_out};
    use crate::prelude::*;
    use crate::wasi::clocks::monotonic_clock;
    use crate::wasi::io::poll::{self, Pollable};
    use crate::wasi::io::streams::{InputStream, OutputStream, StreamError};
    use crate::wasi::sockets::instance_network::instance_network;
    use crate::wasi::sockets::ip_name_lookup::resolve_addresses;
    use crate::wasi::sockets::network::{
        ErrorCode, IpAddress, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress,
        Ipv6SocketAddress, Network,
    };
    use crate::wasi::sockets::tcp::TcpSocket;
    use crate::wasi::sockets::tcp_create_socket::create_tcp_socket;

    /// A connected socket. The streams are declared first, so that they are dropped before
    /// the socket they belong to.
    pub struct Tcp {
        input: InputStream,
        output: OutputStream,
        _socket: TcpSocket,
    }

    /// Waits until `pollable` is ready (`true`) or the deadline passes (`false`).
    fn wait(pollable: &Pollable, deadline: &Deadline) -> bool {
        if deadline.remaining_ns() == 0 {
            return false;
        }
        let timer = monotonic_clock::subscribe_instant(deadline.at_ns);
        poll::poll(&[pollable, &timer]).contains(&0)
    }

    fn code(error: ErrorCode) -> String {
        String::from(error.name())
    }

    fn stream_error(action: &str, error: StreamError) -> Cause {
        match error {
            StreamError::Closed => CLOSED.into(),
            StreamError::LastOperationFailed(e) => {
                format!("cannot {action}: {}", e.to_debug_string())
            }
        }
    }

    fn resolve(
        network: &Network,
        host: &str,
        deadline: &Deadline,
    ) -> Result<Vec<IpAddress>, Cause> {
        if let Ok(ip) = host.parse::<core::net::IpAddr>() {
            return Ok(vec![match ip {
                core::net::IpAddr::V4(v4) => {
                    let [a, b, c, d] = v4.octets();
                    IpAddress::Ipv4((a, b, c, d))
                }
                core::net::IpAddr::V6(v6) => {
                    let s = v6.segments();
                    IpAddress::Ipv6((s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]))
                }
            }]);
        }
        let lookup = resolve_addresses(network, host).map_err(|e| {
            format!("cannot resolve `{host}` ({}); allow name lookup (`wasmtime run -S allow-ip-name-lookup`) or give an IP address", code(e))
        })?;
        let mut found = Vec::new();
        loop {
            match lookup.resolve_next_address() {
                Ok(Some(address)) => found.push(address),
                Ok(None) => return Ok(found),
                Err(ErrorCode::WouldBlock) => {
                    if !wait(&lookup.subscribe(), deadline) {
                        return Err(timed_out("name lookup", deadline));
                    }
                }
                Err(e) => return Err(format!("cannot resolve `{host}` ({})", code(e))),
            }
        }
    }

    impl Tcp {
        /// Connects to `host:port`, trying each address the name resolves to.
        pub fn connect(host: &str, port: u16, deadline: &Deadline) -> Result<Tcp, Cause> {
            let network = instance_network();
            let mut last = format!("`{host}` resolves to no address");
            for address in resolve(&network, host, deadline)? {
                let (family, remote) = match address {
                    IpAddress::Ipv4(address) => (
                        IpAddressFamily::Ipv4,
                        IpSocketAddress::Ipv4(Ipv4SocketAddress { port, address }),
                    ),
                    IpAddress::Ipv6(address) => (
                        IpAddressFamily::Ipv6,
                        IpSocketAddress::Ipv6(Ipv6SocketAddress {
                            port,
                            flow_info: 0,
                            address,
                            scope_id: 0,
                        }),
                    ),
                };
                let socket = create_tcp_socket(family).map_err(|e| {
                    format!("cannot create a socket ({}); let the app use the network (`wasmtime run -S inherit-network`)", code(e))
                })?;
                if let Err(e) = socket.start_connect(&network, remote) {
                    last = format!(
                        "cannot connect ({}); let the app use the network (`wasmtime run -S inherit-network`)",
                        code(e)
                    );
                    continue;
                }
                let connected = loop {
                    let ready = {
                        let pollable = socket.subscribe();
                        wait(&pollable, deadline)
                    };
                    if !ready {
                        break Err(timed_out("connection", deadline));
                    }
                    match socket.finish_connect() {
                        Err(ErrorCode::WouldBlock) => continue,
                        Err(e) => break Err(format!("cannot connect ({})", code(e))),
                        Ok(streams) => break Ok(streams),
                    }
                };
                match connected {
                    Ok((input, output)) => {
                        return Ok(Tcp {
                            input,
                            output,
                            _socket: socket,
                        });
                    }
                    Err(cause) => last = cause,
                }
            }
            Err(last)
        }

        /// Whether the server closed the connection (or sent something unasked) since the
        /// last reply: a non-blocking read, so that a dead connection is replaced before a
        /// command is sent on it. It costs more than its call: in wasmtime-wasi a read that
        /// finds nothing clears tokio's readiness of the socket, and until the runtime's I/O
        /// thread wakes to the next event no read looks at the socket, so the reply to the
        /// command sent next waits for that wake-up (read-only commands skip the check).
        pub fn is_stale(&mut self) -> bool {
            !matches!(self.input.read(1), Ok(bytes) if bytes.is_empty())
        }

        /// Hands all of `bytes` to the runtime and asks it to flush them, before `deadline`:
        /// three WASI calls for a command that fits the room `check-write` gives. It does not
        /// wait for the flush: the reply cannot come before the command is out, and its read
        /// is bounded by the same deadline (a write that fails shows there, or at the next
        /// `check-write`).
        pub fn write_all(&mut self, mut bytes: &[u8], deadline: &Deadline) -> Result<(), Cause> {
            while !bytes.is_empty() {
                let room = self
                    .output
                    .check_write()
                    .map_err(|e| stream_error("send", e))?;
                if room == 0 {
                    if !wait(&self.output.subscribe(), deadline) {
                        return Err(timed_out("progress sending", deadline));
                    }
                    continue;
                }
                let n = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
                self.output
                    .write(&bytes[..n])
                    .map_err(|e| stream_error("send", e))?;
                bytes = &bytes[n..];
            }
            self.output.flush().map_err(|e| stream_error("send", e))
        }

        /// Appends at least one received byte to `buf`, before `deadline`: up to
        /// [`SPIN_READS`] non-blocking reads first, then a `poll` that waits.
        pub fn read(&mut self, buf: &mut Vec<u8>, deadline: &Deadline) -> Result<(), Cause> {
            // wasmtime-wasi zeroes a buffer of the size asked for on every read, data or not
            // (a read that finds nothing: ~1 µs for 64 KiB, ~0.35 µs for 4 KiB): the first
            // read asks for enough for most replies (100 pipelined `GET`s of 100 bytes), the
            // spin's for little.
            let (mut spins, mut want) = (0, FIRST_READ);
            loop {
                match self.input.read(want) {
                    Ok(bytes) if !bytes.is_empty() => {
                        buf.extend_from_slice(&bytes);
                        return Ok(());
                    }
                    Ok(_) if spins < SPIN_READS => (spins, want) = (spins + 1, 4 << 10),
                    Ok(_) => {
                        if !wait(&self.input.subscribe(), deadline) {
                            return Err(timed_out("reply", deadline));
                        }
                        want = FIRST_READ;
                    }
                    Err(e) => return Err(stream_error("receive", e)),
                }
            }
        }
    }
}
