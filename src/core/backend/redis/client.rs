//! The connections of one instance to a Redis server or cluster: connecting (and replacing a
//! connection the server closed before a write is sent on it), `AUTH`/`SELECT`, routing by
//! the slot map ([`topology`](super::topology) learns it), `MOVED`/`ASK` redirects, pipelines
//! and retries. Behind Sentinels ([`sentinel`](super::sentinel)), the one data node is the
//! primary they name, checked with `ROLE` on every new connection.
//!
//! # Retries
//! A call has one [`Deadline`]. Within it, a command is sent again only where that cannot apply
//! it twice: after a failure to connect (nothing was sent; a node that is no longer the
//! primary counts as one), after `-TRYAGAIN`, `-CLUSTERDOWN`, `-READONLY`, `-LOADING` or
//! `-MASTERDOWN` (the server refused it), and, once, a read-only command whose connection broke after it was
//! sent. Before a write is sent, its connection is checked for one the server closed (and
//! replaced); a read-only command skips that check (in the component it delays the reply, see
//! `State::round_trip`) and is sent again, without counting as its one resend, when a
//! connection it reused turns out closed. A write that may have been sent is never sent again: its error says that it may or may
//! not have happened. Every failure of a connection, and those error replies, mark the
//! cluster's slot map (or the Sentinels' answer) stale, so the next attempt asks any reachable
//! node (the seeds, then every node met so far; or the Sentinels in turn) where the data is: a
//! replica that took over from a dead primary is found without restarting the instance. Attempts wait 0, 25, 50, ... 800 ms between them (at most
//! [`MAX_ATTEMPTS`], and never past the deadline).

use core::cell::RefCell;

use super::net::Deadline;
use super::resp::{self, Reader, Reply};
use super::stream::{Stream, Tls};
use super::topology::Topology;
use crate::config::{RedisConfig, RedisTopology, RedisUrl};
use crate::error::Error;
use crate::prelude::*;

/// Slots of a Redis Cluster.
pub const SLOTS: usize = 16384;
/// The most redirects one command follows.
const MAX_REDIRECTS: usize = 5;
/// The most times one call sends a command or connects for it.
const MAX_ATTEMPTS: usize = 7;

/// A client of one server, or of the primaries of one cluster.
pub struct Client {
    /// The URLs given: one server, a cluster's seeds, or the Sentinels.
    pub(super) seeds: Vec<RedisUrl>,
    /// The service whose primary the Sentinels name (`--sentinel-service`).
    pub(super) sentinel: Option<String>,
    timeout_ms: u64,
    /// TLS settings, for `rediss://` URLs (every connection then uses TLS).
    tls: Option<Tls>,
    pub(super) state: RefCell<State>,
}

/// A server the client talks to.
pub(super) struct Node {
    pub(super) host: String,
    pub(super) port: u16,
    conn: Option<Conn>,
}

/// An open connection.
pub(super) struct Conn {
    pub(super) tcp: Stream,
    pub(super) reader: Reader,
}

/// What a connection is to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Peer {
    /// A node that holds data.
    Data,
    /// A Sentinel: no database to select, and maybe no password to check.
    Sentinel,
}

/// The nodes met so far and the topology.
#[derive(Default)]
pub(super) struct State {
    pub(super) nodes: Vec<Node>,
    /// Known once a server has answered (or declared by `--topology`): `None` before.
    pub(super) topology: Option<Topology>,
    /// The cluster's map is the declared guess, not yet read from a node.
    pub(super) guessed: bool,
}

/// Where a command goes.
#[derive(Clone, Copy)]
pub enum Route<'a> {
    /// To the node that serves this key.
    Key(&'a [u8]),
    /// To this node (an index of [`Client::primaries`]).
    Node(usize),
}

/// How an exchange with a node failed.
pub(super) struct Failure {
    /// The node.
    pub(super) node: usize,
    /// What happened, for the message.
    pub(super) cause: String,
    /// What the failure means for the command.
    pub(super) kind: FailKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FailKind {
    /// No connection: nothing was sent.
    Connect,
    /// The server refused the connection's setup (`AUTH`, `SELECT`): trying again cannot help.
    Setup,
    /// The connection broke after the command was (maybe) sent.
    Sent,
    /// As `Sent`, on a connection reused without the check for a closed one (only read-only
    /// commands skip it): most likely the server closed it while the instance was idle, so
    /// sending again on a new connection does not count as the command's one resend.
    Reused,
}

impl Client {
    /// A client of the servers `config` names; connects on first use.
    pub fn new(config: &RedisConfig) -> Result<Client, Error> {
        let from_env;
        let urls = match &config.url_env {
            Some(name) => {
                from_env = [environment(name)?];
                &from_env[..]
            }
            None => &config.urls[..],
        };
        let seeds = urls
            .iter()
            .map(|url| {
                RedisUrl::parse(url).map_err(|problem| Error::Redis {
                    server: crate::config::mask(url),
                    problem: match &config.url_env {
                        Some(name) => format!("{problem}; set `{name}` to a valid URL"),
                        None => format!("{problem}; rebuild the component with a valid --url"),
                    },
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if seeds.is_empty() {
            return Err(Error::Redis {
                server: "(none)".into(),
                problem: match config.sentinel {
                    Some(_) => "no --sentinel configured; build with `--backend redis --sentinel redis://HOST:PORT --sentinel-service NAME`".into(),
                    None => "no --url configured; build with `--backend redis --url redis://HOST:PORT`".into(),
                },
            });
        }
        // A declared topology saves the discovery before the first command: a cluster's map
        // starts as "every slot on the first seed", refined by the first redirect (and then
        // read whole), and read whole before anything needs every primary.
        let topology = config.topology.map(|declared| match declared {
            RedisTopology::Standalone => Topology::Single,
            RedisTopology::Cluster => Topology::Cluster {
                slots: vec![0; SLOTS],
                stale: false,
            },
        });
        // Behind Sentinels, the primary is asked of them before the first command.
        let topology = match config.sentinel {
            Some(_) => Some(Topology::Sentinel { stale: true }),
            None => topology,
        };
        let mut state = State {
            guessed: matches!(topology, Some(Topology::Cluster { .. })),
            topology,
            ..State::default()
        };
        if config.topology.is_some() && config.sentinel.is_none() {
            for seed in &seeds {
                state.node_index(&seed.host, seed.port);
            }
        }
        let tls = tls_settings(config, &seeds)?;
        Ok(Client {
            seeds,
            tls,
            sentinel: config.sentinel.clone(),
            timeout_ms: config.timeout_ms.unwrap_or(RedisConfig::DEFAULT_TIMEOUT_MS),
            state: RefCell::new(state),
        })
    }

    /// The deadline of a call that starts now (`--timeout-ms` from now).
    pub fn deadline(&self) -> Deadline {
        Deadline::after(self.timeout_ms)
    }

    /// Sends one command and returns its reply, following cluster redirects and retrying
    /// where that is safe (see the module documentation), all before `deadline`. An error
    /// reply is returned as [`Reply::Error`]; a failure is an [`Error::Redis`] that names the
    /// node. `write`: the command may change data.
    pub fn call(
        &self,
        route: Route<'_>,
        args: &[&[u8]],
        write: bool,
        deadline: &Deadline,
    ) -> Result<Reply, Error> {
        let mut state = self.state.borrow_mut();
        let mut target: Option<(usize, bool)> = None;
        let (mut redirects, mut attempts, mut resent) = (0, 0, false);
        loop {
            let (node, asking) = match target.take() {
                Some(target) => target,
                None => match state.route(self, route, deadline) {
                    Ok(node) => (node, false),
                    Err(error) if state.pause(&mut attempts, deadline) => {
                        drop(error);
                        continue;
                    }
                    Err(error) => return Err(error),
                },
            };
            let mut out = Vec::new();
            if asking {
                resp::command(&mut out, &[b"ASKING"]);
            }
            resp::command(&mut out, args);
            // Only a write needs the check for a closed connection before it is sent (it could
            // not be sent again); a read that meets one is sent again. Skipping it saves more
            // than a call in the component: wasmtime-wasi's read that finds nothing makes the
            // next reply wait for the runtime's I/O thread to see it (docs/redis.md#speed).
            let count = 1 + asking as usize;
            let failure = match state.round_trip(self, node, &out, count, write, deadline) {
                Ok(mut replies) => {
                    let reply = replies.pop().unwrap_or(Reply::Bulk(None));
                    if let Some((kind, slot, host, port)) = redirect(&reply) {
                        redirects += 1;
                        if redirects > MAX_REDIRECTS {
                            return Err(state.nodes[node].error(format!(
                                "more than {MAX_REDIRECTS} cluster redirects for one command; the cluster is resharding, try again"
                            )));
                        }
                        let to = state.node_index(&host, port);
                        if kind == Redirect::Moved {
                            state.moved(slot, to);
                        }
                        target = Some((to, kind == Redirect::Ask));
                        continue;
                    }
                    if !refused_for_now(&reply) {
                        return Ok(reply);
                    }
                    state.mark_stale();
                    if state.pause(&mut attempts, deadline) {
                        continue;
                    }
                    return Err(state.nodes[node].error(format!(
                        "{}; the servers are failing over, resharding or loading their data; try again",
                        describe(&reply)
                    )));
                }
                Err(failure) => failure,
            };
            state.mark_stale();
            let again = match failure.kind {
                FailKind::Connect | FailKind::Reused => true,
                FailKind::Setup => false,
                FailKind::Sent => !write && !core::mem::replace(&mut resent, true),
            };
            if again && state.pause(&mut attempts, deadline) {
                continue;
            }
            return Err(state.failed(failure, write));
        }
    }

    /// Sends commands to one node in one write and reads their replies (a pipeline), before
    /// `deadline`. A reply that is a redirect or a refusal for now is sent again through
    /// [`Client::call`]; so is every command when the node cannot be reached or, for reads, when
    /// the connection breaks.
    pub fn pipeline(
        &self,
        route: Route<'_>,
        commands: &[Vec<&[u8]>],
        write: bool,
        deadline: &Deadline,
    ) -> Result<Vec<Reply>, Error> {
        let exchange = {
            let mut state = self.state.borrow_mut();
            let node = state.route(self, route, deadline)?;
            let mut out = Vec::new();
            for args in commands {
                resp::command(&mut out, args);
            }
            let mut exchange = state.round_trip(self, node, &out, commands.len(), write, deadline);
            if let Err(Failure {
                kind: FailKind::Reused,
                ..
            }) = exchange
            {
                exchange = state.round_trip(self, node, &out, commands.len(), write, deadline);
            }
            match exchange {
                Err(failure)
                    if failure.kind == FailKind::Setup
                        || (write && failure.kind == FailKind::Sent) =>
                {
                    state.mark_stale();
                    return Err(state.failed(failure, write));
                }
                Err(_) => {
                    state.mark_stale();
                    None
                }
                Ok(replies) => Some(replies),
            }
        };
        let Some(mut replies) = exchange else {
            return commands
                .iter()
                .map(|args| {
                    let key = args.get(1).copied().unwrap_or_default();
                    self.call(Route::Key(key), args, write, deadline)
                })
                .collect();
        };
        for (reply, args) in replies.iter_mut().zip(commands) {
            if redirect(reply).is_some() || refused_for_now(reply) {
                let key = args.get(1).copied().unwrap_or_default();
                *reply = self.call(Route::Key(key), args, write, deadline)?;
            }
        }
        Ok(replies)
    }

    /// Which node serves `key`, as an index for [`Route::Node`] (0 on a single server).
    pub fn node_of(&self, key: &[u8], deadline: &Deadline) -> Result<usize, Error> {
        let mut state = self.state.borrow_mut();
        state.route(self, Route::Key(key), deadline)
    }

    /// Whether the servers form a cluster (they run in cluster mode, however many primaries).
    pub fn is_cluster(&self, deadline: &Deadline) -> Result<bool, Error> {
        let mut state = self.state.borrow_mut();
        state.route(self, Route::Node(0), deadline)?;
        Ok(matches!(state.topology, Some(Topology::Cluster { .. })))
    }

    /// The nodes that hold data, in a stable order (by the first slot each serves): the one
    /// server, or every primary of the cluster.
    pub fn primaries(&self, deadline: &Deadline) -> Result<Vec<usize>, Error> {
        let mut state = self.state.borrow_mut();
        if state.guessed {
            state.discover(self, deadline)?;
        }
        state.route(self, Route::Node(0), deadline)?;
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

    /// The largest buffer capacity a connection keeps (for tests).
    #[cfg(test)]
    pub fn reader_capacity(&self) -> usize {
        let state = self.state.borrow();
        let readers = state.nodes.iter().filter_map(|node| node.conn.as_ref());
        readers
            .map(|conn| conn.reader.capacity())
            .max()
            .unwrap_or(0)
    }

    /// An error about the node that serves `route` (for replies the caller does not expect).
    pub fn error(&self, route: Route<'_>, problem: String) -> Error {
        let state = self.state.borrow();
        let node = match (route, &state.topology) {
            (Route::Node(node), _) => node,
            (Route::Key(key), Some(Topology::Cluster { slots, .. })) => {
                usize::from(slots[usize::from(slot(key))])
            }
            (Route::Key(_), _) => 0,
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
            tls: false,
        }
        .server()
    }

    /// An error about this node.
    pub(super) fn error(&self, problem: String) -> Error {
        Error::Redis {
            server: self.server(),
            problem,
        }
    }
}

impl State {
    /// The node for `route`, learning the topology first if it is not known or stale.
    fn route(
        &mut self,
        client: &Client,
        route: Route<'_>,
        deadline: &Deadline,
    ) -> Result<usize, Error> {
        let stale = match &self.topology {
            None => true,
            Some(Topology::Cluster { stale, .. } | Topology::Sentinel { stale }) => *stale,
            Some(Topology::Single) => false,
        };
        if stale {
            self.discover(client, deadline)?;
        }
        Ok(match (route, &self.topology) {
            (Route::Key(key), Some(Topology::Cluster { slots, .. })) => {
                usize::from(slots[usize::from(slot(key))])
            }
            (Route::Node(node), _) => node,
            (Route::Key(_), _) => 0,
        })
    }

    /// Waits before the next attempt; `false` when the attempts or the time are used up.
    fn pause(&mut self, attempts: &mut usize, deadline: &Deadline) -> bool {
        *attempts += 1;
        if *attempts >= MAX_ATTEMPTS {
            return false;
        }
        let ms = match *attempts {
            1 => 0,
            n => 25 << (n - 2).min(5),
        };
        deadline.sleep(ms) || ms == 0 && deadline.remaining_ns() > 0
    }

    /// Marks the slot map (or the primary the Sentinels named) for asking again before the
    /// next command.
    fn mark_stale(&mut self) {
        if let Some(Topology::Cluster { stale, .. } | Topology::Sentinel { stale }) =
            &mut self.topology
        {
            *stale = true;
        }
    }

    /// Records a `MOVED`: `slot` is now served by `node`.
    fn moved(&mut self, slot: usize, node: usize) {
        if let Some(Topology::Cluster { slots, stale }) = &mut self.topology {
            if let Some(entry) = slots.get_mut(slot) {
                *entry = node as u16;
            }
            *stale = true;
        }
    }

    /// The error for `failure`, naming its node and whether a write may have happened.
    pub(super) fn failed(&self, failure: Failure, write: bool) -> Error {
        let problem = match failure.kind {
            FailKind::Connect => format!(
                "{}; check that the server runs and that --url (or --sentinel) names it (the next call tries again)",
                failure.cause
            ),
            FailKind::Setup => failure.cause,
            FailKind::Sent if write => format!(
                "{}; the write may or may not have happened; read the key to find out (the next call reconnects)",
                failure.cause
            ),
            FailKind::Sent | FailKind::Reused => format!(
                "{}; nothing was changed (the next call reconnects)",
                failure.cause
            ),
        };
        match self.nodes.get(failure.node) {
            Some(node) => node.error(problem),
            None => Error::Redis {
                server: "(unknown node)".into(),
                problem,
            },
        }
    }

    /// The index of the node at `host:port`, added if new.
    pub(super) fn node_index(&mut self, host: &str, port: u16) -> usize {
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

    /// Writes `out` to `node` and reads `count` replies, before `deadline`. With `check`, a
    /// connection the server closed since its last reply is replaced before anything is sent;
    /// without, a reused connection that turns out closed fails as [`FailKind::Reused`], which
    /// a read-only command may simply send again. On failure, and when bytes follow the
    /// replies, the connection is dropped, so that the next attempt reconnects.
    pub(super) fn round_trip(
        &mut self,
        client: &Client,
        node: usize,
        out: &[u8],
        count: usize,
        check: bool,
        deadline: &Deadline,
    ) -> Result<Vec<Reply>, Failure> {
        let fail = |cause: String, kind| Failure { node, cause, kind };
        let Some(entry) = self.nodes.get_mut(node) else {
            return Err(fail(
                "a cursor or route names a node this client does not know; start the listing again"
                    .into(),
                FailKind::Setup,
            ));
        };
        if check
            && let Some(conn) = &mut entry.conn
            && conn.tcp.is_stale()
        {
            entry.conn = None;
        }
        let reused = entry.conn.is_some();
        let conn = match &mut entry.conn {
            Some(conn) => conn,
            None => entry.conn.insert(
                connect(client, &entry.host, entry.port, Peer::Data, deadline)
                    .map_err(|(cause, kind)| fail(cause, kind))?,
            ),
        };
        let exchange = conn.tcp.write_all(out, deadline).and_then(|()| {
            (0..count)
                .map(|_| conn.reader.reply(&mut conn.tcp, deadline))
                .collect::<Result<Vec<_>, _>>()
        });
        match exchange {
            Ok(replies) => {
                // Bytes no command asked for: the next reply read here would not be its own.
                if conn.reader.has_leftover() {
                    entry.conn = None;
                }
                Ok(replies)
            }
            Err(cause) => {
                entry.conn = None;
                let kind = match reused && !check {
                    true => FailKind::Reused,
                    false => FailKind::Sent,
                };
                Err(fail(cause, kind))
            }
        }
    }
}

/// Opens a connection to `host:port` and authenticates it (and, on a data node, selects the
/// database and, behind Sentinels, checks with `ROLE` that the node is a primary).
pub(super) fn connect(
    client: &Client,
    host: &str,
    port: u16,
    peer: Peer,
    deadline: &Deadline,
) -> Result<Conn, (String, FailKind)> {
    let mut conn = Conn {
        tcp: Stream::connect(host, port, client.tls.as_ref(), deadline).map_err(|failure| {
            let kind = match failure.refused {
                true => FailKind::Setup,
                false => FailKind::Connect,
            };
            (failure.cause, kind)
        })?,
        reader: Reader::default(),
    };
    let seed = &client.seeds[0];
    let mut out = Vec::new();
    let mut sent = Vec::new();
    if let Some(password) = &seed.password {
        match &seed.user {
            Some(user) => resp::command(&mut out, &[b"AUTH", user.as_bytes(), password.as_bytes()]),
            None => resp::command(&mut out, &[b"AUTH", password.as_bytes()]),
        }
        sent.push("AUTH");
    }
    let db = seed.db.to_string();
    if seed.db != 0 && peer == Peer::Data {
        resp::command(&mut out, &[b"SELECT", db.as_bytes()]);
        sent.push("SELECT");
    }
    if client.sentinel.is_some() && peer == Peer::Data {
        resp::command(&mut out, &[b"ROLE"]);
        sent.push("ROLE");
    }
    let source = match client.sentinel {
        Some(_) => "--sentinel",
        None => "--url",
    };
    if !sent.is_empty() {
        let broken = |cause| (cause, FailKind::Connect);
        conn.tcp.write_all(&out, deadline).map_err(broken)?;
        for command in sent {
            match conn.reader.reply(&mut conn.tcp, deadline).map_err(broken)? {
                // A Sentinel often has no password, or no user, where the data nodes have one;
                // one that needs them refuses the `SENTINEL` command after.
                Reply::Error(_) if peer == Peer::Sentinel && command == "AUTH" => {}
                // A user without `+role` is not checked; a write to a replica still answers
                // `-READONLY`, which sends the call back to the Sentinels.
                Reply::Error(message) if command == "ROLE" && message.starts_with("NOPERM") => {}
                Reply::Array(Some(role)) if command == "ROLE" => {
                    if let Some(Reply::Bulk(Some(name))) = role.first()
                        && name != b"master"
                    {
                        return Err((
                            format!(
                                "is not the primary (ROLE: {}); the Sentinels are asked again",
                                String::from_utf8_lossy(name)
                            ),
                            FailKind::Connect,
                        ));
                    }
                }
                Reply::Error(message)
                    if command == "SELECT" && message.contains("cluster mode") =>
                {
                    return Err((
                        format!(
                            "is a cluster node, and a cluster has only database 0; drop the /{db} from --url"
                        ),
                        FailKind::Setup,
                    ));
                }
                Reply::Error(message) => {
                    return Err((
                        format!(
                            "the server refused the connection's {command}: {message}; check the user and password in {source}"
                        ),
                        FailKind::Setup,
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(conn)
}

/// The TLS settings for `seeds`: `None` for `redis://` URLs; for `rediss://` ones, from
/// `--tls-ca` and `--tls-insecure-skip-verify`, or an error in a build without TLS.
fn tls_settings(config: &RedisConfig, seeds: &[RedisUrl]) -> Result<Option<Tls>, Error> {
    let Some(secure) = seeds.iter().find(|seed| seed.tls) else {
        return Ok(None);
    };
    // Without TLS compiled in, any rediss:// URL is refused, and that is all this build says.
    #[cfg(not(feature = "redis-tls"))]
    {
        let _ = config;
        Err(Error::Redis {
            server: secure.server(),
            problem: "a rediss:// URL, and this component has no TLS: plug it with --tls".into(),
        })
    }
    #[cfg(feature = "redis-tls")]
    {
        if let Some(plain) = seeds.iter().find(|seed| !seed.tls) {
            return Err(Error::Redis {
                server: plain.server(),
                problem: "some URLs are rediss:// (TLS) and some redis://; a deployment uses \
                          one or the other for every node: give them all the same scheme"
                    .into(),
            });
        }
        let hosts = seeds.iter().map(|seed| seed.host.as_str());
        Tls::new(
            config.tls_ca.as_deref(),
            config.tls_insecure_skip_verify,
            hosts,
        )
        .map(Some)
        .map_err(|problem| Error::Redis {
            server: secure.server(),
            problem: format!("{problem}; plug again with a valid --tls-ca"),
        })
    }
}

/// The value of the environment variable `name` (`--url-env`), read when the instance starts.
fn environment(name: &str) -> Result<String, Error> {
    #[cfg(target_arch = "wasm32")]
    let value = crate::wasi::cli::environment::get_environment()
        .into_iter()
        .find_map(|(key, value)| (key == name).then_some(value));
    #[cfg(not(target_arch = "wasm32"))]
    let value = std::env::var(name).ok();
    value
        .filter(|url| !url.is_empty())
        .ok_or_else(|| Error::Redis {
            server: format!("(the URL in `{name}`)"),
            problem: format!(
                "the environment variable `{name}` (--url-env) is not set; run with \
             `wasmtime run --env {name}=redis://HOST:PORT` (or `wasmtime serve --env`)"
            ),
        })
}

/// `-TRYAGAIN` (a multi-key command during resharding), `-CLUSTERDOWN` (no primary for a
/// slot, as during a failover), `-READONLY` (a write to a node that became a replica),
/// `-LOADING` (a restarted node reading its data) or `-MASTERDOWN` (a replica that lost its
/// primary): the server did not run the command, and may later, or another node will.
fn refused_for_now(reply: &Reply) -> bool {
    const CODES: [&str; 5] = [
        "TRYAGAIN",
        "CLUSTERDOWN",
        "READONLY",
        "LOADING",
        "MASTERDOWN",
    ];
    matches!(reply, Reply::Error(message) if CODES.iter().any(|code| message.starts_with(code)))
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
