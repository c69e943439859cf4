//! The connections of one instance to a Redis server or cluster: connecting (and
//! reconnecting on the next call after a failure), `AUTH`/`SELECT`, cluster detection, the slot
//! map, `MOVED`/`ASK` redirects and pipelines.

use core::cell::RefCell;

use super::net::Tcp;
use super::resp::{self, Reader, Reply};
use crate::config::{RedisConfig, RedisUrl};
use crate::error::Error;
use crate::prelude::*;

/// Slots of a Redis Cluster.
pub const SLOTS: usize = 16384;
/// The most redirects one command follows.
const MAX_REDIRECTS: usize = 5;

/// A client of one server, or of the primaries of one cluster.
pub struct Client {
    seeds: Vec<RedisUrl>,
    timeout_ms: u64,
    state: RefCell<State>,
}

/// A server the client talks to.
struct Node {
    host: String,
    port: u16,
    conn: Option<Conn>,
}

/// An open connection.
struct Conn {
    tcp: Tcp,
    reader: Reader,
}

#[derive(Default)]
struct State {
    nodes: Vec<Node>,
    /// Known once a server has answered: `None` before.
    topology: Option<Topology>,
}

enum Topology {
    /// One server: `nodes[0]`.
    Single,
    /// A cluster: the node of each slot, and whether the map should be read again.
    Cluster { slots: Vec<u16>, stale: bool },
}

/// Where a command goes.
#[derive(Clone, Copy)]
pub enum Route<'a> {
    /// To the node that serves this key.
    Key(&'a [u8]),
    /// To this node (an index of [`Client::primaries`]).
    Node(usize),
}

impl Client {
    /// A client of the servers `config` names; connects on first use.
    pub fn new(config: &RedisConfig) -> Result<Client, Error> {
        let seeds = config
            .urls
            .iter()
            .map(|url| {
                RedisUrl::parse(url).map_err(|problem| Error::Redis {
                    server: crate::config::mask(url),
                    problem: format!("{problem}; rebuild the component with a valid --url"),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if seeds.is_empty() {
            return Err(Error::Redis {
                server: "(none)".into(),
                problem:
                    "no --url configured; build with `--backend redis --url redis://HOST:PORT`"
                        .into(),
            });
        }
        Ok(Client {
            seeds,
            timeout_ms: config.timeout_ms.unwrap_or(RedisConfig::DEFAULT_TIMEOUT_MS),
            state: RefCell::new(State::default()),
        })
    }

    /// Sends one command and returns its reply, following cluster redirects. An error reply
    /// is returned as [`Reply::Error`]; a broken connection is an [`Error::Redis`] that names
    /// the server (the next call reconnects). `write`: the command may change data, which the
    /// message of a failure after sending says.
    pub fn call(&self, route: Route<'_>, args: &[&[u8]], write: bool) -> Result<Reply, Error> {
        let mut state = self.state.borrow_mut();
        let mut node = state.route(self, route)?;
        let mut asking = false;
        for _ in 0..=MAX_REDIRECTS {
            let mut out = Vec::new();
            if asking {
                resp::command(&mut out, &[b"ASKING"]);
            }
            resp::command(&mut out, args);
            let mut replies = state.round_trip(self, node, &out, 1 + asking as usize, write)?;
            let reply = replies.pop().unwrap_or(Reply::Bulk(None));
            match redirect(&reply) {
                Some((kind, slot, host, port)) => {
                    let target = state.node_index(&host, port);
                    asking = kind == Redirect::Ask;
                    if let (Redirect::Moved, Some(Topology::Cluster { slots, stale })) =
                        (kind, &mut state.topology)
                    {
                        if let Some(entry) = slots.get_mut(slot) {
                            *entry = target as u16;
                        }
                        *stale = true;
                    }
                    node = target;
                }
                None => return Ok(reply),
            }
        }
        Err(state.nodes[node].error(format!(
            "more than {MAX_REDIRECTS} cluster redirects for one command; the cluster is resharding, try again"
        )))
    }

    /// Sends commands to one node in one write and reads their replies (a pipeline); replies
    /// that are redirects are sent again through [`Client::call`].
    pub fn pipeline(
        &self,
        route: Route<'_>,
        commands: &[Vec<&[u8]>],
        write: bool,
    ) -> Result<Vec<Reply>, Error> {
        let mut replies = {
            let mut state = self.state.borrow_mut();
            let node = state.route(self, route)?;
            let mut out = Vec::new();
            for args in commands {
                resp::command(&mut out, args);
            }
            state.round_trip(self, node, &out, commands.len(), write)?
        };
        for (reply, args) in replies.iter_mut().zip(commands) {
            if redirect(reply).is_some() {
                let key = args.get(1).copied().unwrap_or_default();
                *reply = self.call(Route::Key(key), args, write)?;
            }
        }
        Ok(replies)
    }

    /// Which node serves `key`, as an index for [`Route::Node`] (0 on a single server).
    pub fn node_of(&self, key: &[u8]) -> Result<usize, Error> {
        let mut state = self.state.borrow_mut();
        state.route(self, Route::Key(key))
    }

    /// The nodes that hold data, in a stable order (by the first slot each serves): the one
    /// server, or every primary of the cluster.
    pub fn primaries(&self) -> Result<Vec<usize>, Error> {
        let mut state = self.state.borrow_mut();
        state.route(self, Route::Node(0))?;
        Ok(match &state.topology {
            Some(Topology::Cluster { slots, .. }) => {
                let mut seen = Vec::new();
                for &node in slots {
                    if !seen.contains(&(node as usize)) {
                        seen.push(node as usize);
                    }
                }
                seen
            }
            _ => vec![0],
        })
    }

    /// An error about the node `node` (for replies the caller does not expect).
    pub fn error(&self, route: Route<'_>, problem: String) -> Error {
        let state = self.state.borrow();
        let node = match route {
            Route::Node(node) => node,
            Route::Key(_) => 0,
        };
        match state.nodes.get(node) {
            Some(node) => node.error(problem),
            None => Error::Redis {
                server: self.seeds[0].server(),
                problem,
            },
        }
    }
}

impl Node {
    fn server(&self) -> String {
        RedisUrl {
            host: self.host.clone(),
            port: self.port,
            user: None,
            password: None,
            db: 0,
        }
        .server()
    }

    fn error(&self, problem: String) -> Error {
        Error::Redis {
            server: self.server(),
            problem,
        }
    }
}

impl State {
    /// The node for `route`, learning the topology first if it is not known yet.
    fn route(&mut self, client: &Client, route: Route<'_>) -> Result<usize, Error> {
        let stale = match &self.topology {
            None => true,
            Some(Topology::Cluster { stale, .. }) => *stale,
            Some(Topology::Single) => false,
        };
        if stale {
            self.discover(client)?;
        }
        Ok(match (route, &self.topology) {
            (Route::Key(key), Some(Topology::Cluster { slots, .. })) => {
                slots[usize::from(slot(key))] as usize
            }
            (Route::Node(node), _) => node,
            (Route::Key(_), _) => 0,
        })
    }

    /// Asks the seeds (then known nodes) whether they form a cluster, and for its slot map.
    fn discover(&mut self, client: &Client) -> Result<(), Error> {
        if self.nodes.is_empty() {
            for seed in &client.seeds {
                self.node_index(&seed.host, seed.port);
            }
        }
        let mut last = None;
        for node in 0..self.nodes.len() {
            let mut out = Vec::new();
            resp::command(&mut out, &[b"CLUSTER", b"SLOTS"]);
            let reply = match self.round_trip(client, node, &out, 1, false) {
                Ok(mut replies) => replies.pop().unwrap_or(Reply::Bulk(None)),
                Err(error) => {
                    last = Some(error);
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
                Reply::Array(Some(ranges)) => {
                    let mut slots = vec![u16::MAX; SLOTS];
                    for range in ranges {
                        let Reply::Array(Some(fields)) = range else {
                            continue;
                        };
                        let (
                            Some(Reply::Int(start)),
                            Some(Reply::Int(end)),
                            Some(Reply::Array(Some(primary))),
                        ) = (fields.first(), fields.get(1), fields.get(2))
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
                        let index =
                            self.node_index(&host, u16::try_from(*port).unwrap_or(0)) as u16;
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
                    if client.seeds.iter().any(|seed| seed.db != 0) {
                        return Err(self.nodes[node].error(
                            "a cluster has only database 0; drop the /DB from --url".into(),
                        ));
                    }
                    self.topology = Some(Topology::Cluster {
                        slots,
                        stale: false,
                    });
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

    /// The index of the node at `host:port`, added if new.
    fn node_index(&mut self, host: &str, port: u16) -> usize {
        match self
            .nodes
            .iter()
            .position(|node| node.host == host && node.port == port)
        {
            Some(index) => index,
            None => {
                self.nodes.push(Node {
                    host: host.to_owned(),
                    port,
                    conn: None,
                });
                self.nodes.len() - 1
            }
        }
    }

    /// Writes `out` to `node` (connecting first if needed) and reads `count` replies. On
    /// failure the connection is dropped, so that the next call reconnects.
    fn round_trip(
        &mut self,
        client: &Client,
        node: usize,
        out: &[u8],
        count: usize,
        write: bool,
    ) -> Result<Vec<Reply>, Error> {
        let Some(entry) = self.nodes.get_mut(node) else {
            return Err(Error::Redis {
                server: client.seeds[0].server(),
                problem: "a cursor or route names a node this client does not know; start the listing again".into(),
            });
        };
        if entry.conn.is_none() {
            let conn = connect(client, entry).map_err(|cause| {
                entry.error(format!(
                    "{cause}; check that the server runs and that --url is right (the next call tries again)"
                ))
            })?;
            entry.conn = Some(conn);
        }
        let Some(conn) = entry.conn.as_mut() else {
            return Ok(Vec::new());
        };
        let exchange = conn.tcp.write_all(out).and_then(|()| {
            (0..count)
                .map(|_| conn.reader.reply(&mut conn.tcp))
                .collect::<Result<Vec<_>, _>>()
        });
        exchange.map_err(|cause| {
            entry.conn = None;
            let outcome = if write {
                "the write may or may not have happened; read the key to find out"
            } else {
                "nothing was changed"
            };
            entry.error(format!("{cause}; {outcome} (the next call reconnects)"))
        })
    }
}

/// Opens a connection to `node` and authenticates it (and selects the database).
fn connect(client: &Client, node: &Node) -> Result<Conn, String> {
    let mut conn = Conn {
        tcp: Tcp::connect(&node.host, node.port, client.timeout_ms)?,
        reader: Reader::default(),
    };
    let seed = &client.seeds[0];
    let mut out = Vec::new();
    let mut count = 0;
    if let Some(password) = &seed.password {
        match &seed.user {
            Some(user) => resp::command(&mut out, &[b"AUTH", user.as_bytes(), password.as_bytes()]),
            None => resp::command(&mut out, &[b"AUTH", password.as_bytes()]),
        }
        count += 1;
    }
    let db = seed.db.to_string();
    if seed.db != 0 {
        resp::command(&mut out, &[b"SELECT", db.as_bytes()]);
        count += 1;
    }
    if count > 0 {
        conn.tcp.write_all(&out)?;
        for _ in 0..count {
            if let Reply::Error(message) = conn.reader.reply(&mut conn.tcp)? {
                return Err(format!(
                    "the server refused the connection's setup: {message}"
                ));
            }
        }
    }
    Ok(conn)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Redirect {
    Moved,
    Ask,
}

/// A `MOVED slot host:port` or `ASK slot host:port` error, parsed.
fn redirect(reply: &Reply) -> Option<(Redirect, usize, String, u16)> {
    let Reply::Error(message) = reply else {
        return None;
    };
    let mut words = message.split(' ');
    let kind = match words.next()? {
        "MOVED" => Redirect::Moved,
        "ASK" => Redirect::Ask,
        _ => return None,
    };
    let slot = words.next()?.parse().ok()?;
    let (host, port) = words.next()?.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((kind, slot, host.to_owned(), port.parse().ok()?))
}

/// A reply, shortly, for messages.
pub fn describe(reply: &Reply) -> String {
    match reply {
        Reply::Status(text) => format!("status `{text}`"),
        Reply::Error(text) => format!("error `{text}`"),
        Reply::Int(n) => format!("integer {n}"),
        Reply::Bulk(None) | Reply::Array(None) => "nil".into(),
        Reply::Bulk(Some(bytes)) => format!("{} bytes", bytes.len()),
        Reply::Array(Some(items)) => format!("an array of {}", items.len()),
    }
}

/// The cluster slot of `key`: CRC16 of the key, or of its `{hash tag}`, modulo 16384.
pub fn slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16(tagged) % SLOTS as u16
}

/// CRC16/XMODEM, as Redis Cluster uses it.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // From the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_eq!(slot(b"{}x"), crc16(b"{}x") % 16384);
    }

    #[test]
    fn redirects_parse() {
        let moved = Reply::Error("MOVED 3999 127.0.0.1:6381".into());
        let (kind, slot, host, port) = redirect(&moved).unwrap();
        assert!(kind == Redirect::Moved && slot == 3999 && host == "127.0.0.1" && port == 6381);
        assert!(redirect(&Reply::Error("ERR nope".into())).is_none());
    }
}
