//! One TCP connection, with every wait bounded by the timeout: over `std::net` natively, over
//! `wasi:sockets` in the component (polling the stream together with a monotonic-clock timer,
//! so that a server that stops answering costs the timeout, never a hang).

use crate::prelude::*;

/// Why a connection failed, for messages.
pub type Cause = String;

/// What a wait past the timeout reports.
fn timed_out(what: &str, timeout_ms: u64) -> Cause {
    format!(
        "no {what} within {timeout_ms} ms (--timeout-ms); the server may be overloaded or stopped"
    )
}

/// What the end of the stream reports.
const CLOSED: &str = "the server closed the connection";

#[cfg(not(target_arch = "wasm32"))]
pub use self::native::Tcp;
#[cfg(target_arch = "wasm32")]
pub use self::wasi::Tcp;

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;

    use super::{CLOSED, Cause, timed_out};
    use crate::prelude::*;

    /// A connected socket.
    pub struct Tcp {
        stream: TcpStream,
        timeout_ms: u64,
    }

    impl Tcp {
        /// Connects to `host:port`, trying each address the name resolves to.
        pub fn connect(host: &str, port: u16, timeout_ms: u64) -> Result<Tcp, Cause> {
            let timeout = Duration::from_millis(timeout_ms.max(1));
            let addrs = (host, port)
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve `{host}`: {e}"))?;
            let mut last = format!("`{host}` resolves to no address");
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, timeout) {
                    Ok(stream) => {
                        let setup = stream
                            .set_read_timeout(Some(timeout))
                            .and_then(|()| stream.set_write_timeout(Some(timeout)))
                            .and_then(|()| stream.set_nodelay(true));
                        setup.map_err(|e| e.to_string())?;
                        return Ok(Tcp { stream, timeout_ms });
                    }
                    Err(e) if e.kind() == ErrorKind::TimedOut => {
                        last = timed_out("connection", timeout_ms)
                    }
                    Err(e) => last = format!("cannot connect: {e}"),
                }
            }
            Err(last)
        }

        /// Sends all of `bytes`.
        pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), Cause> {
            self.stream.write_all(bytes).map_err(|e| match e.kind() {
                ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                    timed_out("progress sending", self.timeout_ms)
                }
                _ => format!("cannot send: {e}"),
            })
        }

        /// Appends at least one received byte to `buf`.
        pub fn read(&mut self, buf: &mut Vec<u8>) -> Result<(), Cause> {
            let mut chunk = [0; 16 << 10];
            match self.stream.read(&mut chunk) {
                Ok(0) => Err(CLOSED.into()),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    Ok(())
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    Err(timed_out("reply", self.timeout_ms))
                }
                Err(e) => Err(format!("cannot receive: {e}")),
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod wasi {
    use super::{CLOSED, Cause, timed_out};
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
        timeout_ms: u64,
    }

    /// The instant `timeout_ms` from now.
    fn deadline(timeout_ms: u64) -> u64 {
        monotonic_clock::now().saturating_add(timeout_ms.saturating_mul(1_000_000))
    }

    /// Waits until `pollable` is ready (`true`) or the deadline passes (`false`).
    fn wait(pollable: &Pollable, deadline: u64) -> bool {
        let timer = monotonic_clock::subscribe_instant(deadline);
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
        deadline: u64,
        timeout_ms: u64,
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
                        return Err(timed_out("name lookup", timeout_ms));
                    }
                }
                Err(e) => return Err(format!("cannot resolve `{host}` ({})", code(e))),
            }
        }
    }

    impl Tcp {
        /// Connects to `host:port`, trying each address the name resolves to.
        pub fn connect(host: &str, port: u16, timeout_ms: u64) -> Result<Tcp, Cause> {
            let deadline = deadline(timeout_ms);
            let network = instance_network();
            let mut last = format!("`{host}` resolves to no address");
            for address in resolve(&network, host, deadline, timeout_ms)? {
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
                        break Err(timed_out("connection", timeout_ms));
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
                            timeout_ms,
                        });
                    }
                    Err(cause) => last = cause,
                }
            }
            Err(last)
        }

        /// Sends all of `bytes`, and waits until they are flushed.
        pub fn write_all(&mut self, mut bytes: &[u8]) -> Result<(), Cause> {
            let deadline = deadline(self.timeout_ms);
            while !bytes.is_empty() {
                let room = self
                    .output
                    .check_write()
                    .map_err(|e| stream_error("send", e))?;
                if room == 0 {
                    if !wait(&self.output.subscribe(), deadline) {
                        return Err(timed_out("progress sending", self.timeout_ms));
                    }
                    continue;
                }
                let n = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
                self.output
                    .write(&bytes[..n])
                    .map_err(|e| stream_error("send", e))?;
                bytes = &bytes[n..];
            }
            self.output.flush().map_err(|e| stream_error("send", e))?;
            if !wait(&self.output.subscribe(), deadline) {
                return Err(timed_out("progress sending", self.timeout_ms));
            }
            self.output
                .check_write()
                .map(drop)
                .map_err(|e| stream_error("send", e))
        }

        /// Appends at least one received byte to `buf`.
        pub fn read(&mut self, buf: &mut Vec<u8>) -> Result<(), Cause> {
            let deadline = deadline(self.timeout_ms);
            loop {
                match self.input.read(64 << 10) {
                    Ok(bytes) if !bytes.is_empty() => {
                        buf.extend_from_slice(&bytes);
                        return Ok(());
                    }
                    Ok(_) => {
                        if !wait(&self.input.subscribe(), deadline) {
                            return Err(timed_out("reply", self.timeout_ms));
                        }
                    }
                    Err(e) => return Err(stream_error("receive", e)),
                }
            }
        }
    }
}
