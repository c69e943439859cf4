//! What the servers are: one server, or a Redis Cluster and the node of each slot.
//!
//! The server decides, not the number of nodes: `CLUSTER SLOTS` answers the slot map on a node
//! in cluster mode (one primary or many) and `ERR This instance has cluster support disabled`
//! on a server that is not. A user that may not run `CLUSTER SLOTS` (`NOPERM`, as a
//! least-privilege ACL user gets) is on a single server when one `--url` is given: the
//! backend needs only the commands of `+@read +@write +@scripting +@connection`. With several
//! `--url`, they must be the seeds of one cluster, and the user must be allowed
//! `CLUSTER SLOTS` (`+cluster|slots`).
//!
//! The map is read again whenever it may be out of date (a `MOVED`, a failed connection, a
//! `-CLUSTERDOWN` or `-TRYAGAIN`), from the first node that answers: the seeds first, then
//! every node met so far, so a cluster whose seed died is still found.

use super::client::{Client, SLOTS, State, describe};
use super::net::Deadline;
use super::resp::{self, Reply};
use crate::error::Error;
use crate::prelude::*;

/// The servers the client talks to.
pub enum Topology {
    /// One server: `nodes[0]`.
    Single,
    /// A cluster: the node of each slot, and whether the map should be read again.
    Cluster { slots: Vec<u16>, stale: bool },
    /// The primary the Sentinels named: `nodes[0]`, and whether to ask them again.
    Sentinel { stale: bool },
}

impl State {
    /// Asks the seeds, then every node known, whether they form a cluster, and for its slot
    /// map; the first node that answers decides.
    pub(super) fn discover(&mut self, client: &Client, deadline: &Deadline) -> Result<(), Error> {
        if let Some(service) = &client.sentinel {
            return self.find_primary(client, service, deadline);
        }
        if self.nodes.is_empty() {
            for seed in &client.seeds {
                self.node_index(&seed.host, seed.port);
            }
        }
        let mut last = None;
        for node in 0..self.nodes.len() {
            let mut out = Vec::new();
            resp::command(&mut out, &[b"CLUSTER", b"SLOTS"]);
            let reply = match self.round_trip(client, node, &out, 1, true, deadline) {
                Ok(mut replies) => replies.pop().unwrap_or(Reply::Bulk(None)),
                Err(failure) => {
                    last = Some(self.failed(failure, false));
                    continue;
                }
            };
            match reply {
                Reply::Error(message) if message.contains("cluster support disabled") => {
                    if client.seeds.len() > 1 {
                        return Err(self.nodes[node].error(format!(
                            "is not a cluster node, and {} --url were given; give one --url for a single server, or only the seed nodes of one cluster",
                            client.seeds.len()
                        )));
                    }
                    self.topology = Some(Topology::Single);
                    return Ok(());
                }
                Reply::Error(message) if message.starts_with("NOPERM") => {
                    if client.seeds.len() > 1 {
                        return Err(self.nodes[node].error(format!(
                            "the user may not run CLUSTER SLOTS ({message}), which finding the cluster's nodes from {} --url needs; allow it (`ACL SETUSER USER +cluster|slots`) or give one --url for a single server",
                            client.seeds.len()
                        )));
                    }
                    self.topology = Some(Topology::Single);
                    return Ok(());
                }
                Reply::Array(Some(ranges)) => {
                    let slots = match self.slot_map(node, &ranges) {
                        Ok(slots) => slots,
                        Err(error) => {
                            last = Some(error);
                            continue;
                        }
                    };
                    if client.seeds.iter().any(|seed| seed.db != 0) {
                        return Err(self.nodes[node].error(
                            "is a cluster node, and a cluster has only database 0; drop the /DB from --url".into(),
                        ));
                    }
                    self.topology = Some(Topology::Cluster {
                        slots,
                        stale: false,
                    });
                    self.guessed = false;
                    return Ok(());
                }
                other => {
                    last = Some(self.nodes[node].error(format!(
                        "unexpected reply to CLUSTER SLOTS: {}",
                        describe(&other)
                    )))
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::Redis {
            server: client.seeds[0].server(),
            problem: "no server to ask".into(),
        }))
    }

    /// The node of each slot, from `node`'s answer to `CLUSTER SLOTS`.
    fn slot_map(&mut self, node: usize, ranges: &[Reply]) -> Result<Vec<u16>, Error> {
        let mut slots = vec![u16::MAX; SLOTS];
        for range in ranges {
            let Reply::Array(Some(fields)) = range else {
                continue;
            };
            let (Some(Reply::Int(start)), Some(Reply::Int(end)), Some(Reply::Array(Some(primary)))) =
                (fields.first(), fields.get(1), fields.get(2))
            else {
                continue;
            };
            let (Some(Reply::Bulk(Some(host))), Some(Reply::Int(port))) =
                (primary.first(), primary.get(1))
            else {
                continue;
            };
            let host = match core::str::from_utf8(host) {
                Ok("") | Err(_) => self.nodes[node].host.clone(),
                Ok(host) => host.to_owned(),
            };
            let index = self.node_index(&host, u16::try_from(*port).unwrap_or(0)) as u16;
            let start = (*start).clamp(0, SLOTS as i64 - 1) as usize;
            let end = (*end).clamp(0, SLOTS as i64 - 1) as usize;
            for entry in slots.iter_mut().take(end + 1).skip(start) {
                *entry = index;
            }
        }
        if slots.contains(&u16::MAX) {
            return Err(self.nodes[node].error(
                "the cluster does not cover all 16384 slots; fix the cluster (`redis-cli --cluster fix`)".into(),
            ));
        }
        Ok(slots)
    }
}
