//! A connection to a server: plain TCP ([`Tcp`]) for `redis://`, or TLS over it
//! ([`tls`](super::tls), feature `redis-tls`) for `rediss://`. Both send and receive under the
//! call's [`Deadline`], and the rest of the backend does not tell them apart.

#[cfg(feature = "redis-tls")]
use alloc::boxed::Box;

use super::net::{Cause, Deadline, Tcp};
#[cfg(feature = "redis-tls")]
pub use super::tls::Tls;
#[cfg(feature = "redis-tls")]
use super::tls::{Failure, TlsStream};
use crate::prelude::*;

/// Without the `redis-tls` feature no TLS settings exist: a `rediss://` URL is refused before
/// a connection is made (see `Client::new`).
#[cfg(not(feature = "redis-tls"))]
pub enum Tls {}

/// An open connection.
pub enum Stream {
    /// `redis://`.
    Plain(Tcp),
    /// `rediss://`.
    #[cfg(feature = "redis-tls")]
    Tls(Box<TlsStream>),
}

/// Why a connection could not be made.
pub struct ConnectError {
    /// What happened, for the message.
    pub cause: Cause,
    /// The TLS handshake was refused (a certificate, a name, a plain server): trying again
    /// cannot help.
    pub refused: bool,
}

impl Stream {
    /// Connects to `host:port`, with TLS when `tls` is given, before `deadline`.
    pub fn connect(
        host: &str,
        port: u16,
        tls: Option<&Tls>,
        deadline: &Deadline,
    ) -> Result<Stream, ConnectError> {
        match tls {
            None => Tcp::connect(host, port, deadline)
                .map(Stream::Plain)
                .map_err(|cause| ConnectError {
                    cause,
                    refused: false,
                }),
            #[cfg(feature = "redis-tls")]
            Some(tls) => match TlsStream::connect(tls, host, port, deadline) {
                Ok(stream) => Ok(Stream::Tls(Box::new(stream))),
                Err(Failure::Io(cause)) => Err(ConnectError {
                    cause,
                    refused: false,
                }),
                Err(Failure::Tls(cause)) => Err(ConnectError {
                    cause,
                    refused: true,
                }),
                Err(Failure::Refused(error)) => Err(ConnectError {
                    cause: format!("TLS: {error}"),
                    refused: true,
                }),
            },
            #[cfg(not(feature = "redis-tls"))]
            Some(tls) => match *tls {},
        }
    }

    /// Whether the server closed the connection (or sent something unasked) since the last
    /// reply, so that it is replaced before a command is sent on it.
    pub fn is_stale(&mut self) -> bool {
        match self {
            Stream::Plain(tcp) => tcp.is_stale(),
            #[cfg(feature = "redis-tls")]
            Stream::Tls(tls) => tls.is_stale(),
        }
    }

    /// Sends all of `bytes` before `deadline`.
    pub fn write_all(&mut self, bytes: &[u8], deadline: &Deadline) -> Result<(), Cause> {
        match self {
            Stream::Plain(tcp) => tcp.write_all(bytes, deadline),
            #[cfg(feature = "redis-tls")]
            Stream::Tls(tls) => tls.write_all(bytes, deadline),
        }
    }

    /// Appends at least one received byte to `buf`, before `deadline`.
    pub fn read(&mut self, buf: &mut Vec<u8>, deadline: &Deadline) -> Result<(), Cause> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf, deadline),
            #[cfg(feature = "redis-tls")]
            Stream::Tls(tls) => tls.read(buf, deadline),
        }
    }
}
