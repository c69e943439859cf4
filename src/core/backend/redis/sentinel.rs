//! Redis Sentinel (`--sentinel URL`, repeated, and `--sentinel-service NAME`): the primary of
//! the service is asked of the Sentinels, in the order given, with
//! `SENTINEL get-master-addr-by-name NAME`; the first that answers decides. Each new
//! connection to the primary checks with `ROLE` that it is one (a node the Sentinels demoted
//! answers `slave`), so a call that meets a demoted node asks the Sentinels again.
//!
//! They are asked before the first command, and again whenever the primary may have changed:
//! a connection that fails, a node that is not a primary, and the error replies that a node
//! during or after a failover gives (`-READONLY`, `-LOADING`, `-MASTERDOWN`). The retries are
//! those of every call ([`client`](super::client)): within its deadline, and never resending a
//! write that may have been sent.
//!
//! The Sentinels and the data nodes share the user and password of the first `--sentinel` URL
//! (a Sentinel that has no such user or no password is asked all the same), and its `/DB`
//! selects the database on the primary. A user that may not run `ROLE` (it is in `@admin`)
//! is not checked on connecting; a write to a demoted primary then answers `-READONLY`, which
//! sends the call back to the Sentinels too, but a read may be served by the demoted node
//! until a write or a failed connection moves the instance on: allow `+role`.

use super::client::{Client, Peer, State, connect, describe};
use super::net::Deadline;
use super::resp::{self, Reply};
use super::topology::Topology;
use crate::error::Error;
use crate::prelude::*;

impl State {
    /// Asks the Sentinels in turn for the primary of `service` and makes it `nodes[0]`.
    pub(super) fn find_primary(
        &mut self,
        client: &Client,
        service: &str,
        deadline: &Deadline,
    ) -> Result<(), Error> {
        let mut last = None;
        for sentinel in &client.seeds {
            match ask(client, &sentinel.host, sentinel.port, service, deadline) {
                Ok((host, port)) => {
                    self.set_primary(host, port);
                    self.topology = Some(Topology::Sentinel { stale: false });
                    return Ok(());
                }
                Err(problem) => {
                    last = Some(Error::Redis {
                        server: format!("{} (a Sentinel)", sentinel.server()),
                        problem,
                    })
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::Redis {
            server: "(no Sentinel)".into(),
            problem: "no --sentinel to ask for the primary".into(),
        }))
    }

    /// Makes `host:port` the one data node, keeping its connection if it is the same node.
    fn set_primary(&mut self, host: String, port: u16) {
        match self.nodes.first() {
            Some(node) if node.host == host && node.port == port => {}
            _ => {
                self.nodes.clear();
                self.node_index(&host, port);
            }
        }
    }
}

/// The address the Sentinel at `host:port` gives for the primary of `service`.
fn ask(
    client: &Client,
    host: &str,
    port: u16,
    service: &str,
    deadline: &Deadline,
) -> Result<(String, u16), String> {
    let mut conn =
        connect(client, host, port, Peer::Sentinel, deadline).map_err(|(cause, _)| cause)?;
    let mut out = Vec::new();
    resp::command(
        &mut out,
        &[b"SENTINEL", b"get-master-addr-by-name", service.as_bytes()],
    );
    conn.tcp.write_all(&out, deadline)?;
    match conn.reader.reply(&mut conn.tcp, deadline)? {
        Reply::Array(Some(fields)) => match (fields.first(), fields.get(1)) {
            (Some(Reply::Bulk(Some(host))), Some(Reply::Bulk(Some(port)))) => {
                let host = core::str::from_utf8(host).ok();
                let port = core::str::from_utf8(port).ok().and_then(|p| p.parse().ok());
                match (host, port) {
                    (Some(host), Some(port)) => Ok((host.to_owned(), port)),
                    _ => Err("answered an address that is not HOST and PORT".into()),
                }
            }
            _ => Err(format!(
                "unexpected reply to SENTINEL get-master-addr-by-name: an array of {}",
                fields.len()
            )),
        },
        Reply::Array(None) | Reply::Bulk(None) => Err(format!(
            "monitors no service named `{service}`; check --sentinel-service (`redis-cli -p PORT SENTINEL MASTERS` lists them)"
        )),
        Reply::Error(message) if message.starts_with("NOAUTH") || message.starts_with("NOPERM") => {
            Err(format!(
                "refused to name the primary ({message}); give the user and password the \
                 Sentinels take in the first --sentinel URL (the data nodes take the same)"
            ))
        }
        Reply::Error(message) if message.contains("unknown command") => Err(format!(
            "is not a Sentinel ({message}); --sentinel takes the URLs of Sentinels, --url those of data nodes"
        )),
        other => Err(format!(
            "unexpected reply to SENTINEL get-master-addr-by-name: {}",
            describe(&other)
        )),
    }
}
