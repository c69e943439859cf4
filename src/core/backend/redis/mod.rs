//! The redis backend: buckets on a Redis server or Redis Cluster, spoken to in RESP over TCP
//! (`wasi:sockets` in the component, `std::net` natively; see [`net`]), or over TLS for
//! `rediss://` URLs in the build with the `redis-tls` feature (see `tls`). Nothing is kept in the
//! instance but connections, so every instance and every other client sees the same data.
//!
//! # Keys
//! The value of `key` in bucket `b` is the Redis string at `PREFIX` + `esc(b)` + `:` + `key`,
//! where `PREFIX` is `--key-prefix` and `esc` writes `%`, `:`, `{` and `}` as `%25`, `%3A`,
//! `%7B` and `%7D`. The bucket part holds no `:`, so the first `:` after the prefix ends it:
//! no two (bucket, key) pairs share a Redis key, and the keys of `b` are exactly those that
//! start with `PREFIX esc(b):`. Braces are escaped so that a bucket name never acts as a
//! cluster hash tag: a bucket's keys spread over every node.
//!
//! # Commands
//! - `get`/`set`/`delete`/`exists`: `GET`, `SET`, `DEL`, `EXISTS`.
//! - `get-many`: a pipeline of `GET`s to each node (one write, then the replies), so that a key
//!   holding no string answers `WRONGTYPE` as with `get` (`MGET` would answer nil).
//! - `set-many`/`delete-many`: one `MSET` or `DEL` on a single server; on a cluster (of one
//!   primary or many), per node, a pipeline of `SET`/`DEL`, so that no command spans two slots.
//!   Not atomic, as on every backend.
//! - `increment`: `INCRBY`, inside a short Lua script that first refuses (leaves to the general
//!   path) a negative value for draft's `u64`. The stored form is decimal ASCII, as on the memory
//!   and fs backends. Where `INCRBY` refuses (not a number to Redis, such as `007`; out of the
//!   `i64` range; a `u64` delta above `i64::MAX`), the core's general path decides, with the
//!   same outcome as on other backends: a read, then a compare-and-set script that writes only
//!   if the value is still the one read (retried on conflict).
//! - `list-keys`: `SCAN cursor MATCH PREFIX esc(b):* COUNT n` on each node in turn (every
//!   primary of a cluster), in pages made of whole `SCAN` batches (see [`list`] for why a
//!   walk then misses no key and repeats none).
//! - draft2 `cas`/`swap`: compare-and-swap of the *value*, atomic on the server with a Lua
//!   script (one round trip; it runs on the key's node like any one-key command). A handle's
//!   version is the first 60 bits of the SHA-1 of the value `cas.new` saw (`0`: no value), so a
//!   swap fails if the value changed, but succeeds after a write of the same value, or a key
//!   created and deleted again. `WATCH`/`MULTI`/`EXEC` would see those writes, but a watch
//!   belongs to a connection: handles cannot outlive a reconnect, one `EXEC` ends every watch
//!   of the connection (the component serves many handles on one connection), and it costs
//!   three round trips.
//! - seeds: `SET key value NX`. Redis keeps no tombstones, so a deleted seed comes back when
//!   the next instance starts.
//!
//! # Failures
//! One deadline (`--timeout-ms`) bounds each call as a whole: connecting, sending, every chunk
//! of every reply and every retry. A connection the server closed is noticed before a command
//! is sent on it (a non-blocking peek) and replaced. Retries, failover and the topology are in
//! [`client`] and [`topology`]. A failure becomes `error::other` naming the node and the cause;
//! a write whose reply was lost says that it may or may not have happened.
//!
//! `--max-keys` is refused with this backend (at build time): enforcing it would take a count
//! of each bucket on the server, kept by every write, which a cluster cannot keep atomically
//! (a bucket's keys spread over every node, and a script may touch one slot only).

mod client;
mod list;
mod net;
mod resp;
mod sentinel;
mod stream;
#[cfg(feature = "redis-tls")]
mod tls;
#[cfg(feature = "redis-tls")]
mod tls_verify;
mod topology;

use alloc::rc::Rc;
use core::cell::{Cell, RefCell};

use self::client::{Client, Route, describe};
use self::list::{SCAN_COUNT, scan};
use self::net::Deadline;
use self::resp::Reply;
use super::{Backend, BucketOps, Update};
use crate::config::RedisConfig;
use crate::error::Error;
use crate::local::local;
use crate::prelude::*;

/// How often the general update path retries after a concurrent write.
const MAX_RETRIES: usize = 1000;

/// The version of a key: `0` for none, else 15 hex digits of the SHA-1 of its value.
const VERSION: &[u8] = b"local v = redis.call('GET', KEYS[1]) \
    if v then return string.sub(redis.sha1hex(v), 1, 15) end return '0'";
/// Sets the key to ARGV[2] if its version is ARGV[1]; returns 1, or the version it has.
const SWAP: &[u8] = b"local v = redis.call('GET', KEYS[1]) local h = '0' \
    if v then h = string.sub(redis.sha1hex(v), 1, 15) end \
    if h == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end return h";
/// Sets the key to ARGV[3] if it holds ARGV[2] (ARGV[1] = '1') or nothing (ARGV[1] = '0').
const SET_IF: &[u8] = b"local v = redis.call('GET', KEYS[1]) \
    if (ARGV[1] == '0' and not v) or (ARGV[1] == '1' and v == ARGV[2]) then \
    redis.call('SET', KEYS[1], ARGV[3]) return 1 end return 0";
/// `INCRBY KEYS[1] ARGV[1]`, or nil where the general path must decide (ARGV[2] = 'u': a
/// negative value is not a `u64`; an `INCRBY` error). The sum is returned as the stored text:
/// Lua would round a returned integer beyond 2^53 to a double.
const ADD: &[u8] = b"local v = redis.call('GET', KEYS[1]) \
    if v and ARGV[2] == 'u' and string.sub(v, 1, 1) == '-' then return false end \
    local r = redis.pcall('INCRBY', KEYS[1], ARGV[1]) \
    if type(r) == 'table' then return false end return redis.call('GET', KEYS[1])";

/// The redis backend: a client shared by every bucket it opens.
#[derive(Clone)]
pub struct Redis {
    client: Rc<Client>,
    key_prefix: Rc<str>,
}

/// The instance's backend, made on first use from the baked configuration.
pub fn shared(config: &RedisConfig) -> Result<Redis, Error> {
    local! {
        static SHARED: RefCell<Option<Redis>> = RefCell::new(None);
    }
    SHARED.with_borrow_mut(|shared| {
        if let Some(redis) = shared {
            return Ok(redis.clone());
        }
        let redis = Redis::new(config)?;
        *shared = Some(redis.clone());
        Ok(redis)
    })
}

impl Redis {
    /// A backend on the servers `config` names; connects on first use.
    pub fn new(config: &RedisConfig) -> Result<Redis, Error> {
        Ok(Redis {
            client: Rc::new(Client::new(config)?),
            key_prefix: config.key_prefix.as_str().into(),
        })
    }

    /// The buckets that hold at least one key, sorted (for the CLI's store tools).
    pub fn buckets(&self) -> Result<Vec<String>, Error> {
        let mut pattern = glob_escape(self.key_prefix.as_bytes());
        pattern.push(b'*');
        let mut buckets = Vec::new();
        for node in self.client.primaries(&self.client.deadline())? {
            let mut cursor = 0;
            loop {
                let deadline = self.client.deadline();
                let (next, keys) =
                    scan(&self.client, node, cursor, &pattern, SCAN_COUNT, &deadline)?;
                for key in keys {
                    // SCAN matched the prefix; a server that answers otherwise is skipped.
                    let Some(rest) = key.strip_prefix(self.key_prefix.as_bytes()) else {
                        continue;
                    };
                    if let Some(end) = rest.iter().position(|&b| b == b':')
                        && let Some(bucket) = unescape(&rest[..end])
                        && !buckets.contains(&bucket)
                    {
                        buckets.push(bucket);
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        buckets.sort();
        Ok(buckets)
    }
}

impl Backend for Redis {
    type Bucket = Bucket;

    fn open(&self, identifier: &str) -> Result<Bucket, Error> {
        let mut prefix = self.key_prefix.as_bytes().to_vec();
        for &byte in identifier.as_bytes() {
            if matches!(byte, b'%' | b':' | b'{' | b'}') {
                prefix.extend_from_slice(format!("%{byte:02X}").as_bytes());
            } else {
                prefix.push(byte);
            }
        }
        prefix.push(b':');
        let mut pattern = glob_escape(&prefix);
        pattern.push(b'*');
        Ok(Bucket(Rc::new(Inner {
            client: self.client.clone(),
            tag: tag(identifier),
            prefix,
            pattern,
            average: Cell::new(0),
        })))
    }
}

/// A bucket: a key prefix on the server.
#[derive(Clone)]
pub struct Bucket(Rc<Inner>);

pub(super) struct Inner {
    client: Rc<Client>,
    tag: u16,
    prefix: Vec<u8>,
    pattern: Vec<u8>,
    /// The average length of the keys the last `SCAN` returned, to size the next one.
    average: Cell<usize>,
}

impl Bucket {
    /// The Redis key of `key`.
    fn key(&self, key: &str) -> Vec<u8> {
        let mut full = Vec::with_capacity(self.0.prefix.len() + key.len());
        full.extend_from_slice(&self.0.prefix);
        full.extend_from_slice(key.as_bytes());
        full
    }

    /// Runs a one-key command.
    fn call(&self, key: &[u8], args: &[&[u8]], write: bool) -> Result<Reply, Error> {
        let deadline = self.0.client.deadline();
        match self
            .0
            .client
            .call(Route::Key(key), args, write, &deadline)?
        {
            Reply::Error(message) => Err(self.unexpected(key, args, &Reply::Error(message))),
            reply => Ok(reply),
        }
    }

    fn unexpected(&self, key: &[u8], args: &[&[u8]], reply: &Reply) -> Error {
        let command = String::from_utf8_lossy(args.first().copied().unwrap_or_default());
        self.0.client.error(
            Route::Key(key),
            format!("unexpected reply to {command}: {}", describe(reply)),
        )
    }

    fn version(&self, key: &[u8], reply: &Reply, args: &[&[u8]]) -> Result<u64, Error> {
        match reply {
            Reply::Bulk(Some(hex)) if hex == b"0" => Ok(0),
            Reply::Bulk(Some(hex)) => core::str::from_utf8(hex)
                .ok()
                .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                .map(|hash| hash | 1 << 60)
                .ok_or_else(|| self.unexpected(key, args, reply)),
            other => Err(self.unexpected(key, args, other)),
        }
    }

    /// The keys on each node, in order, for the cluster's batches.
    fn by_node<'k>(
        &self,
        keys: impl Iterator<Item = &'k [u8]>,
        deadline: &Deadline,
    ) -> Result<Vec<(usize, Vec<usize>)>, Error> {
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, key) in keys.enumerate() {
            let node = self.0.client.node_of(key, deadline)?;
            match groups.iter_mut().find(|(n, _)| *n == node) {
                Some((_, members)) => members.push(i),
                None => groups.push((node, vec![i])),
            }
        }
        Ok(groups)
    }

    /// Sends `command(i)` for each key `full[i]` to the node that holds it, one pipeline per
    /// node (one-key commands, so a cluster never answers `CROSSSLOT`), and hands each reply to
    /// `reply` with the key's index. One deadline bounds every pipeline.
    fn per_node<'a>(
        &self,
        full: &'a [Vec<u8>],
        write: bool,
        command: impl Fn(usize) -> Vec<&'a [u8]>,
        mut reply: impl FnMut(usize, Reply) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let deadline = self.0.client.deadline();
        for (node, members) in self.by_node(full.iter().map(Vec::as_slice), &deadline)? {
            let commands: Vec<Vec<&[u8]>> = members.iter().map(|&i| command(i)).collect();
            let replies = self
                .0
                .client
                .pipeline(Route::Node(node), &commands, write, &deadline)?;
            for (answer, &i) in replies.into_iter().zip(&members) {
                reply(i, answer)?;
            }
        }
        Ok(())
    }

    /// Whether the servers run in cluster mode (one primary or many).
    fn is_cluster(&self) -> Result<bool, Error> {
        self.0.client.is_cluster(&self.0.client.deadline())
    }
}

/// `bytes` with glob's special characters escaped, for `SCAN ... MATCH`.
fn glob_escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 1);
    for &byte in bytes {
        if matches!(byte, b'*' | b'?' | b'[' | b']' | b'\\') {
            out.push(b'\\');
        }
        out.push(byte);
    }
    out
}

/// The bucket name an escaped bucket part stands for.
fn unescape(part: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(part.len());
    let mut i = 0;
    while i < part.len() {
        if part[i] == b'%' {
            let hex = core::str::from_utf8(part.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(part[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A bucket's tag: a hash of its name (never 0).
fn tag(identifier: &str) -> u16 {
    let hash = fnv(identifier.as_bytes());
    ((hash ^ (hash >> 16) ^ (hash >> 32) ^ (hash >> 48)) as u16).max(1)
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
    })
}

impl BucketOps for Bucket {
    fn tag(&self) -> u16 {
        self.0.tag
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let key = self.key(key);
        match self.call(&key, &[b"GET", &key], false)? {
            Reply::Bulk(value) => Ok(value),
            other => Err(self.unexpected(&key, &[b"GET"], &other)),
        }
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        let key = self.key(&key);
        self.call(&key, &[b"SET", &key, &value], true).map(drop)
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        let key = self.key(key);
        self.call(&key, &[b"DEL", &key], true).map(drop)
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        let key = self.key(key);
        match self.call(&key, &[b"EXISTS", &key], false)? {
            Reply::Int(n) => Ok(n > 0),
            other => Err(self.unexpected(&key, &[b"EXISTS"], &other)),
        }
    }

    fn count(&self) -> Result<u64, Error> {
        let mut count = 0;
        for node in self.0.client.primaries(&self.0.client.deadline())? {
            let mut cursor = 0;
            loop {
                let deadline = self.0.client.deadline();
                let (next, keys) = scan(
                    &self.0.client,
                    node,
                    cursor,
                    &self.0.pattern,
                    SCAN_COUNT,
                    &deadline,
                )?;
                count += keys.len() as u64;
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(count)
    }

    fn keys(
        &self,
        from: u64,
        page: &mut Vec<String>,
        max_keys: usize,
        max_bytes: usize,
    ) -> Result<Option<u64>, Error> {
        list::page(self, from, page, max_keys, max_bytes)
    }

    fn update(&self, key: &str, f: &mut Update<'_>) -> Result<(), Error> {
        let full = self.key(key);
        for _ in 0..MAX_RETRIES {
            let old = self.get(key)?;
            let new = f(old.as_deref())?;
            let (had, old) = match &old {
                Some(old) => (&b"1"[..], &old[..]),
                None => (&b"0"[..], &b""[..]),
            };
            match self.call(&full, &[b"EVAL", SET_IF, b"1", &full, had, old, &new], true)? {
                Reply::Int(1) => return Ok(()),
                Reply::Int(_) => continue,
                other => return Err(self.unexpected(&full, &[b"EVAL"], &other)),
            }
        }
        Err(self.0.client.error(
            Route::Key(&full),
            format!("the key changed under {MAX_RETRIES} attempts to update it; try again"),
        ))
    }

    fn create(&self, key: String, value: Vec<u8>) -> Result<bool, Error> {
        let key = self.key(&key);
        match self.call(&key, &[b"SET", &key, &value, b"NX"], true)? {
            Reply::Status(_) => Ok(true),
            Reply::Bulk(None) => Ok(false),
            other => Err(self.unexpected(&key, &[b"SET"], &other)),
        }
    }

    fn watch(&self, key: &str) -> Result<u64, Error> {
        let key = self.key(key);
        let args: [&[u8]; 4] = [b"EVAL", VERSION, b"1", &key];
        let reply = self.call(&key, &args, false)?;
        self.version(&key, &reply, &args)
    }

    fn unwatch(&self, _key: &str) {}

    fn swap(&self, key: &str, seen: u64, value: Vec<u8>) -> Result<Result<(), u64>, Error> {
        let key = self.key(key);
        let seen = if seen == 0 {
            "0".to_owned()
        } else {
            format!("{:015x}", seen & ((1 << 60) - 1))
        };
        let args: [&[u8]; 6] = [b"EVAL", SWAP, b"1", &key, seen.as_bytes(), &value];
        match self.call(&key, &args, true)? {
            Reply::Int(1) => Ok(Ok(())),
            reply => self.version(&key, &reply, &args).map(Err),
        }
    }

    fn add(&self, key: &str, delta: i64, unsigned: bool) -> Result<Option<i64>, Error> {
        let key = self.key(key);
        let delta = delta.to_string();
        let kind: &[u8] = if unsigned { b"u" } else { b"s" };
        match self.call(
            &key,
            &[b"EVAL", ADD, b"1", &key, delta.as_bytes(), kind],
            true,
        )? {
            Reply::Bulk(Some(sum))
                if let Some(sum) = core::str::from_utf8(&sum)
                    .ok()
                    .and_then(|sum| sum.parse().ok()) =>
            {
                Ok(Some(sum))
            }
            Reply::Bulk(None) => Ok(None),
            other => Err(self.unexpected(&key, &[b"EVAL"], &other)),
        }
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let full: Vec<Vec<u8>> = keys.iter().map(|key| self.key(key)).collect();
        let value = |reply: Reply, key: &[u8]| match reply {
            Reply::Bulk(value) => Ok(value),
            other => Err(self.unexpected(key, &[b"GET"], &other)),
        };
        // `GET`s in a pipeline rather than one `MGET`: `MGET` answers nil for a key that
        // holds no string, where `GET` answers `WRONGTYPE`, as `get` does.
        let mut values = vec![None; keys.len()];
        self.per_node(
            &full,
            false,
            |i| vec![&b"GET"[..], &full[i]],
            |i, reply| {
                values[i] = value(reply, &full[i])?;
                Ok(())
            },
        )?;
        Ok(values)
    }

    fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        if pairs.is_empty() {
            return Ok(());
        }
        let full: Vec<Vec<u8>> = pairs.iter().map(|(key, _)| self.key(key)).collect();
        if !self.is_cluster()? {
            let mut args: Vec<&[u8]> = vec![b"MSET"];
            for (key, (_, value)) in full.iter().zip(&pairs) {
                args.push(key);
                args.push(value);
            }
            return self.call(&full[0], &args, true).map(drop);
        }
        self.per_node(
            &full,
            true,
            |i| vec![&b"SET"[..], &full[i], &pairs[i].1],
            |i, reply| match reply {
                Reply::Error(_) => Err(self.unexpected(&full[i], &[b"SET"], &reply)),
                _ => Ok(()),
            },
        )
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        if keys.is_empty() {
            return Ok(());
        }
        let full: Vec<Vec<u8>> = keys.iter().map(|key| self.key(key)).collect();
        if !self.is_cluster()? {
            let mut args: Vec<&[u8]> = vec![b"DEL"];
            args.extend(full.iter().map(Vec::as_slice));
            return self.call(&full[0], &args, true).map(drop);
        }
        self.per_node(
            &full,
            true,
            |i| vec![&b"DEL"[..], &full[i]],
            |i, reply| match reply {
                Reply::Error(_) => Err(self.unexpected(&full[i], &[b"DEL"], &reply)),
                _ => Ok(()),
            },
        )
    }
}

/// Checks the PEM text of `--tls-ca` as the TLS build will read it: the number of CA
/// certificates, or what is wrong.
#[cfg(feature = "redis-tls")]
pub fn check_tls_ca(pem: &str) -> Result<usize, String> {
    tls::roots_from_pem(pem).map(|roots| roots.len())
}

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_ops;
#[cfg(test)]
pub(crate) mod tests_sentinel;
#[cfg(all(test, feature = "redis-tls"))]
pub(crate) mod tests_tls;
