//! The configuration the `keyvalue-virt` CLI bakes into the component, and its binary format.
//!
//! The guest decodes it, and the CLI (`compose/`) encodes and prints it with this same module,
//! so the two sides cannot drift apart.
//!
//! Format (all integers little-endian): the magic `KVCF`, a format version byte, then the
//! fields in the order of [`Config`]. A string or byte string is a `u32` length and the bytes;
//! a list is a `u32` count and the items; an optional `u64` is a flag byte and the value.

use crate::prelude::*;

/// Marks the component's configuration slot: these 16 bytes, then the `u32` address and the
/// `u32` length of the baked configuration in linear memory (both 0 when nothing is baked). The
/// CLI finds the slot in the component's data, places the encoded configuration in memory pages
/// it adds past the module's initial memory, and fills in the address and length.
pub const SLOT_MAGIC: &[u8; 16] = b"keyvalue-virt:cf";

/// The first bytes of an encoded configuration.
pub const MAGIC: &[u8; 4] = b"KVCF";
/// The format version this code reads and writes.
pub const VERSION: u8 = 7;

/// Where the data lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// In the instance's memory, for as long as the instance lives.
    #[default]
    Memory,
    /// In files under a directory the runtime grants.
    Fs,
    /// On a Redis server or cluster, over `wasi:sockets` TCP.
    Redis,
}

/// When the fs backend makes a write durable (`--sync`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// Every write is synced to disk before it returns: it survives a power loss where the
    /// runtime syncs.
    #[default]
    Always = 0,
    /// Writes are atomic and exact across instances but not synced: a machine crash may lose
    /// the last ones (for test doubles and caches).
    Never = 1,
}

impl SyncMode {
    /// Every mode, as `--sync` names them.
    pub const ALL: [SyncMode; 2] = [SyncMode::Always, SyncMode::Never];

    /// The name `--sync` takes.
    pub fn name(self) -> &'static str {
        match self {
            SyncMode::Always => "always",
            SyncMode::Never => "never",
        }
    }

    /// The mode named `name`.
    pub fn from_name(name: &str) -> Option<SyncMode> {
        SyncMode::ALL.into_iter().find(|mode| mode.name() == name)
    }
}

/// Whether and how the component writes a line per operation to stderr (`--trace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trace {
    /// No trace.
    #[default]
    Off = 0,
    /// Lines for people: `keyvalue-virt: OP bucket="B" key="K" -> RESULT` (`--trace`).
    Text = 1,
    /// One JSON object per line, every key and the values' sizes in it, for tools
    /// (`--trace=json`).
    Json = 2,
}

impl Trace {
    /// The formats `--trace=FORMAT` names.
    pub const FORMATS: [Trace; 2] = [Trace::Text, Trace::Json];

    /// The name `--trace=FORMAT` takes (`off` for no trace).
    pub fn name(self) -> &'static str {
        match self {
            Trace::Off => "off",
            Trace::Text => "text",
            Trace::Json => "json",
        }
    }

    /// The format named `name`.
    pub fn from_name(name: &str) -> Option<Trace> {
        Trace::FORMATS
            .into_iter()
            .find(|trace| trace.name() == name)
    }
}

/// An operation of `wasi:keyvalue`, as named in `--fail` and in trace lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `store.open`.
    Open,
    /// `bucket.get`.
    Get,
    /// `bucket.set`.
    Set,
    /// `bucket.delete`.
    Delete,
    /// `bucket.exists`.
    Exists,
    /// `bucket.list-keys`.
    ListKeys,
    /// `atomics.increment`.
    Increment,
    /// `atomics.cas.new` (draft2).
    CasNew,
    /// `atomics.cas.current` (draft2).
    CasCurrent,
    /// `atomics.swap` (draft2).
    Swap,
    /// `batch.get-many`.
    GetMany,
    /// `batch.set-many`.
    SetMany,
    /// `batch.delete-many`.
    DeleteMany,
}

impl Op {
    /// Every operation, in wire order (an operation is encoded as its index here).
    pub const ALL: [Op; 13] = [
        Op::Open,
        Op::Get,
        Op::Set,
        Op::Delete,
        Op::Exists,
        Op::ListKeys,
        Op::Increment,
        Op::CasNew,
        Op::CasCurrent,
        Op::Swap,
        Op::GetMany,
        Op::SetMany,
        Op::DeleteMany,
    ];

    /// The name users write, as in WIT.
    pub fn name(self) -> &'static str {
        match self {
            Op::Open => "open",
            Op::Get => "get",
            Op::Set => "set",
            Op::Delete => "delete",
            Op::Exists => "exists",
            Op::ListKeys => "list-keys",
            Op::Increment => "increment",
            Op::CasNew => "cas-new",
            Op::CasCurrent => "cas-current",
            Op::Swap => "swap",
            Op::GetMany => "get-many",
            Op::SetMany => "set-many",
            Op::DeleteMany => "delete-many",
        }
    }

    /// The operation named `name`.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Whether the operation can change data (refused by a read-only store).
    pub fn writes(self) -> bool {
        matches!(
            self,
            Op::Set | Op::Delete | Op::Increment | Op::Swap | Op::SetMany | Op::DeleteMany
        )
    }

    /// The operation's place in [`Op::ALL`], which is its declaration order.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A case of the WIT `error` variant, as `--fail` and trace lines name it: what an injected
/// fault returns, and what every core [`Error`](crate::error::Error) becomes at the boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCase {
    /// `error::no-such-store`.
    NoSuchStore,
    /// `error::access-denied`.
    AccessDenied,
    /// `error::other(message)`.
    Other(String),
}

impl ErrorCase {
    /// The case's name in WIT, without the message.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorCase::NoSuchStore => "no-such-store",
            ErrorCase::AccessDenied => "access-denied",
            ErrorCase::Other(_) => ErrorCase::OTHER,
        }
    }

    /// Reads the form `--fail` takes: `no-such-store`, `access-denied` or `other:MESSAGE`.
    pub fn from_name(text: &str) -> Option<ErrorCase> {
        match text.split_once(':') {
            Some((ErrorCase::OTHER, message)) => Some(ErrorCase::Other(message.to_owned())),
            _ => [ErrorCase::NoSuchStore, ErrorCase::AccessDenied]
                .into_iter()
                .find(|case| case.name() == text),
        }
    }

    /// The name of the `other` case.
    pub const OTHER: &'static str = "other";

    /// What [`ErrorCase::from_name`] accepts, for messages.
    pub const SYNTAX: &'static str = "no-such-store, access-denied or other:MESSAGE";
}

/// Writes the form [`ErrorCase::from_name`] reads.
impl core::fmt::Display for ErrorCase {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ErrorCase::Other(message) => write!(f, "{}:{message}", ErrorCase::OTHER),
            case => f.write_str(case.name()),
        }
    }
}

/// An injected failure: calls of `op` (on `bucket` and naming `key`, when given) fail with
/// `error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// The operation that fails.
    pub op: Op,
    /// Only the `nth` call that the fault matches (counting from 1 over the instance's life)
    /// fails; every call it matches fails when `None`.
    pub nth: Option<u64>,
    /// What the failing call returns.
    pub error: ErrorCase,
    /// Only calls on this bucket match; any bucket when `None`.
    pub bucket: Option<String>,
    /// Only calls that name this key match (a batch: any of its keys); any call when `None`.
    /// Calls that name no key (`open`, `list-keys`) never match a fault with a key.
    pub key: Option<String>,
}

impl Fault {
    /// A fault on every call of `op`, or only the `nth`, in any bucket and for any key.
    pub fn new(op: Op, nth: Option<u64>, error: ErrorCase) -> Fault {
        Fault {
            op,
            nth,
            error,
            bucket: None,
            key: None,
        }
    }
}

/// A key-value pair the store holds before the application runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seed {
    /// The bucket identifier.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The value.
    pub value: Vec<u8>,
}

/// Everything that can be configured. `Config::default()` is what a component with nothing
/// baked in does: memory backend, any bucket, no limits, no faults, no trace.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// Where the data lives.
    pub backend: BackendKind,
    /// The guest path of the store directory (fs backend).
    pub dir: Option<String>,
    /// If not empty, only these buckets open; others get `access-denied`.
    pub allow: Vec<String>,
    /// These buckets never open (`access-denied`).
    pub deny: Vec<String>,
    /// Every write gets `access-denied`.
    pub read_only: bool,
    /// Whether the fs backend syncs each write to disk before it returns (`--sync`).
    pub sync: SyncMode,
    /// The largest value a write may store, in bytes.
    pub max_value_size: Option<u64>,
    /// The most keys a bucket may hold.
    pub max_keys: Option<u64>,
    /// The most keys one `list-keys` page holds (`--page-keys`, 1 to 1000; `None`: 1000).
    pub page_keys: Option<u64>,
    /// Write one line per operation to stderr, and in which format.
    pub trace: Trace,
    /// Injected failures.
    pub faults: Vec<Fault>,
    /// Data present from the start.
    pub seeds: Vec<Seed>,
    /// Where the redis backend connects, and how.
    pub redis: RedisConfig,
}

/// The redis backend's settings (`--url`, `--url-env`, `--sentinel`, `--sentinel-service`,
/// `--topology`, `--key-prefix`, `--timeout-ms`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RedisConfig {
    /// `redis://` URLs: one server, or seed nodes of a cluster (checked by [`RedisUrl::parse`]);
    /// with [`RedisConfig::sentinel`], the Sentinels to ask for the primary.
    pub urls: Vec<String>,
    /// The service (master) name the Sentinels in `urls` monitor (`--sentinel-service`): the
    /// primary is asked of them, and asked again when it fails. `None`: no Sentinel.
    pub sentinel: Option<String>,
    /// The environment variable that holds the URL, read by the instance when it starts
    /// (`--url-env`), instead of `urls`: nothing secret is baked.
    pub url_env: Option<String>,
    /// The topology declared with `--topology`, so that an instance sends its first command
    /// without asking the server; `None`: asked (`CLUSTER SLOTS`) before the first command.
    pub topology: Option<RedisTopology>,
    /// Put before every Redis key the backend writes.
    pub key_prefix: String,
    /// How long one network operation may take, in milliseconds ([`RedisConfig::DEFAULT_TIMEOUT_MS`]
    /// when `None`).
    pub timeout_ms: Option<u64>,
    /// The component is the TLS build (`--tls`, or implied by a `rediss://` URL, `--tls-ca` or
    /// `--tls-insecure-skip-verify`): it can connect to `rediss://` URLs, such as one read from
    /// the environment.
    pub tls: bool,
    /// The CA certificates a `rediss://` server's certificate is checked against (`--tls-ca`,
    /// PEM; public, so baked); `None`: the roots built into the TLS build (Mozilla's).
    pub tls_ca: Option<String>,
    /// Accept any server certificate (`--tls-insecure-skip-verify`): encrypted, but to whoever
    /// answers. For test servers only.
    pub tls_insecure_skip_verify: bool,
}

/// A topology declared with `--topology`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisTopology {
    /// One server, not in cluster mode.
    Standalone,
    /// A Redis Cluster (one primary or many).
    Cluster,
}

impl RedisTopology {
    /// The name `--topology` takes.
    pub fn name(self) -> &'static str {
        match self {
            RedisTopology::Standalone => "standalone",
            RedisTopology::Cluster => "cluster",
        }
    }

    /// The topology called `name`.
    pub fn from_name(name: &str) -> Option<RedisTopology> {
        [RedisTopology::Standalone, RedisTopology::Cluster]
            .into_iter()
            .find(|topology| topology.name() == name)
    }
}

impl RedisConfig {
    /// The timeout when none is configured.
    pub const DEFAULT_TIMEOUT_MS: u64 = 5000;
}

/// A parsed `redis[s]://[user:password@]HOST:PORT[/DB]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// A host name or an IP address (IPv6 without its brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// The ACL user name, if given.
    pub user: Option<String>,
    /// The password, if given (`AUTH`).
    pub password: Option<String>,
    /// The database number (`SELECT`; standalone servers only).
    pub db: u32,
    /// `rediss://`: over TLS.
    pub tls: bool,
}

impl RedisUrl {
    /// Parses a URL; the error says what is wrong and shows the expected form.
    pub fn parse(url: &str) -> Result<RedisUrl, String> {
        const FORM: &str = "redis://[user:password@]HOST:PORT[/DB]";
        let (tls, rest) = match url.strip_prefix("rediss://") {
            Some(rest) => (true, rest),
            None => (
                false,
                url.strip_prefix("redis://").ok_or_else(|| {
                    format!("`{}` is not a redis URL: expected {FORM}", mask(url))
                })?,
            ),
        };
        if rest
            .rsplit_once('@')
            .map_or(rest, |(_, host)| host)
            .contains(['?', '#'])
        {
            return Err(format!(
                "`{}` has a query or fragment, which the redis backend does not read; put the \
                 password before the host: redis://:PASSWORD@HOST:PORT or \
                 redis://USER:PASSWORD@HOST:PORT",
                mask(url)
            ));
        }
        let (userinfo, rest) = match rest.rsplit_once('@') {
            Some((userinfo, rest)) => (Some(userinfo), rest),
            None => (None, rest),
        };
        let (hostport, db) = match rest.split_once('/') {
            Some((hostport, "")) => (hostport, 0),
            Some((hostport, db)) => (
                hostport,
                db.parse::<u32>().map_err(|_| {
                    format!(
                        "the database in `{}` must be a number, not `{db}`",
                        mask(url)
                    )
                })?,
            ),
            None => (rest, 0),
        };
        let (host, port) = match hostport.strip_prefix('[') {
            Some(v6) => match v6.split_once("]:") {
                Some((host, port)) => (host, port),
                None => {
                    return Err(format!(
                        "`{}` needs a port after the IPv6 address: expected {FORM}",
                        mask(url)
                    ));
                }
            },
            None => hostport.rsplit_once(':').ok_or_else(|| {
                format!(
                    "`{}` has no port: expected {FORM}, e.g. redis://127.0.0.1:6379",
                    mask(url)
                )
            })?,
        };
        if host.is_empty() || host.contains(['@', '/', '?', '#', ' ']) {
            return Err(format!(
                "`{}` has no valid host: expected {FORM}",
                mask(url)
            ));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| {
                format!(
                    "the port in `{}` must be 1 to 65535, not `{port}`",
                    mask(url)
                )
            })?;
        let (user, password) = match userinfo {
            None => (None, None),
            Some(userinfo) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((user, password)) => (user, Some(password)),
                    None => (userinfo, None),
                };
                let decode = |part: &str| {
                    percent_decode(part.as_bytes()).ok_or_else(|| {
                        format!("`{}` has a bad %-escape in its user or password", mask(url))
                    })
                };
                let user = (!user.is_empty()).then(|| decode(user)).transpose()?;
                let password = password.map(decode).transpose()?;
                if password.is_none() && user.is_some() {
                    return Err(format!(
                        "`{}` names a user without a password: write redis://user:password@HOST:PORT",
                        mask(url)
                    ));
                }
                (user, password)
            }
        };
        Ok(RedisUrl {
            host: host.to_owned(),
            port,
            user,
            password,
            db,
            tls,
        })
    }

    /// `HOST:PORT`, as messages name the server.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `url` with its password, and any query or fragment, replaced by `***`, for printing (any
/// `scheme://` URL, such as `rediss://`).
pub fn mask(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (user, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => match userinfo.split_once(':') {
            Some((user, _)) => (format!("{user}:***@"), rest),
            None => ("***@".to_owned(), rest),
        },
        None => (String::new(), rest),
    };
    let rest = match rest.find(['?', '#']) {
        Some(at) => format!("{}***", &rest[..=at]),
        None => rest.to_owned(),
    };
    format!("{scheme}://{user}{rest}")
}

/// `text` with each `%XX` decoded; `None` for a `%` not followed by two hex digits, or for
/// bytes that are not UTF-8. What a URL's user and password and the bucket and key of `--fail`
/// are written in.
// Inlined as when it was private: public without it, it cost the redis build 484 bytes.
#[inline]
pub fn percent_decode(bytes: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = core::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Config {
    /// Encodes the configuration in the format the component reads.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(match self.backend {
            BackendKind::Memory => 0,
            BackendKind::Fs => 1,
            BackendKind::Redis => 2,
        });
        put_opt_str(&mut out, self.dir.as_deref());
        put_list(&mut out, &self.allow, |out, name| {
            put_bytes(out, name.as_bytes())
        });
        put_list(&mut out, &self.deny, |out, name| {
            put_bytes(out, name.as_bytes())
        });
        out.push(self.read_only as u8);
        out.push(self.sync as u8);
        put_opt_u64(&mut out, self.max_value_size);
        put_opt_u64(&mut out, self.max_keys);
        out.push(self.trace as u8);
        put_list(&mut out, &self.faults, |out, fault| {
            out.push(fault.op.index() as u8);
            put_opt_u64(out, fault.nth);
            match &fault.error {
                ErrorCase::NoSuchStore => out.push(0),
                ErrorCase::AccessDenied => out.push(1),
                ErrorCase::Other(message) => {
                    out.push(2);
                    put_bytes(out, message.as_bytes());
                }
            }
            put_opt_str(out, fault.bucket.as_deref());
            put_opt_str(out, fault.key.as_deref());
        });
        put_list(&mut out, &self.seeds, |out, seed| {
            put_bytes(out, seed.bucket.as_bytes());
            put_bytes(out, seed.key.as_bytes());
            put_bytes(out, &seed.value);
        });
        put_list(&mut out, &self.redis.urls, |out, url| {
            put_bytes(out, url.as_bytes())
        });
        put_bytes(&mut out, self.redis.key_prefix.as_bytes());
        put_opt_u64(&mut out, self.redis.timeout_ms);
        put_opt_str(&mut out, self.redis.url_env.as_deref());
        out.push(match self.redis.topology {
            None => 0,
            Some(RedisTopology::Standalone) => 1,
            Some(RedisTopology::Cluster) => 2,
        });
        put_opt_str(&mut out, self.redis.sentinel.as_deref());
        out.push(self.redis.tls as u8);
        put_opt_str(&mut out, self.redis.tls_ca.as_deref());
        out.push(self.redis.tls_insecure_skip_verify as u8);
        put_opt_u64(&mut out, self.page_keys);
        out
    }

    /// Decodes a configuration; the error says what is wrong with the bytes.
    pub fn decode(bytes: &[u8]) -> Result<Config, &'static str> {
        let mut r = Reader(bytes);
        if r.take(4)? != MAGIC {
            return Err("not a keyvalue-virt configuration (bad magic)");
        }
        if r.u8()? != VERSION {
            return Err(
                "the configuration format is not the one this build reads; rebuild the \
                 component with a matching `keyvalue-virt`",
            );
        }
        let backend = match r.u8()? {
            0 => BackendKind::Memory,
            1 => BackendKind::Fs,
            2 => BackendKind::Redis,
            _ => return Err("unknown backend"),
        };
        let config = Config {
            backend,
            dir: r.opt_string()?,
            allow: r.list(Reader::string)?,
            deny: r.list(Reader::string)?,
            read_only: r.bool()?,
            sync: match r.u8()? {
                0 => SyncMode::Always,
                1 => SyncMode::Never,
                _ => return Err("unknown sync mode"),
            },
            max_value_size: r.opt_u64()?,
            max_keys: r.opt_u64()?,
            trace: match r.u8()? {
                0 => Trace::Off,
                1 => Trace::Text,
                2 => Trace::Json,
                _ => return Err("unknown trace format"),
            },
            faults: r.list(|r| {
                let op = *Op::ALL
                    .get(r.u8()? as usize)
                    .ok_or("unknown operation in a fault")?;
                let nth = r.opt_u64()?;
                let error = match r.u8()? {
                    0 => ErrorCase::NoSuchStore,
                    1 => ErrorCase::AccessDenied,
                    2 => ErrorCase::Other(r.string()?),
                    _ => return Err("unknown fault error"),
                };
                Ok(Fault {
                    op,
                    nth,
                    error,
                    bucket: r.opt_string()?,
                    key: r.opt_string()?,
                })
            })?,
            seeds: r.list(|r| {
                Ok(Seed {
                    bucket: r.string()?,
                    key: r.string()?,
                    value: r.bytes()?.to_vec(),
                })
            })?,
            redis: RedisConfig {
                urls: r.list(Reader::string)?,
                key_prefix: r.string()?,
                timeout_ms: r.opt_u64()?,
                url_env: r.opt_string()?,
                topology: match r.u8()? {
                    0 => None,
                    1 => Some(RedisTopology::Standalone),
                    2 => Some(RedisTopology::Cluster),
                    _ => return Err("unknown redis topology"),
                },
                sentinel: r.opt_string()?,
                tls: r.bool()?,
                tls_ca: r.opt_string()?,
                tls_insecure_skip_verify: r.bool()?,
            },
            page_keys: match r.opt_u64()? {
                Some(0) => return Err("a page of 0 keys (--page-keys takes 1 to 1000)"),
                keys => keys,
            },
        };
        if !r.0.is_empty() {
            return Err("unexpected bytes after the configuration");
        }
        Ok(config)
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn put_opt_str(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            put_bytes(out, text.as_bytes());
        }
    }
}

fn put_opt_u64(out: &mut Vec<u8>, value: Option<u64>) {
    match value {
        None => out.push(0),
        Some(value) => {
            out.push(1);
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
}

fn put_list<T>(out: &mut Vec<u8>, items: &[T], mut put: impl FnMut(&mut Vec<u8>, &T)) {
    out.extend_from_slice(&(items.len() as u32).to_le_bytes());
    for item in items {
        put(out, item);
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("the configuration is truncated");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }

    fn bool(&mut self) -> Result<bool, &'static str> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err("bad flag"),
        }
    }

    fn u32(&mut self) -> Result<u32, &'static str> {
        let mut raw = [0; 4];
        raw.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(raw))
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        let mut raw = [0; 8];
        raw.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(raw))
    }

    fn opt_u64(&mut self) -> Result<Option<u64>, &'static str> {
        Ok(if self.bool()? {
            Some(self.u64()?)
        } else {
            None
        })
    }

    fn bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let len = self.u32()? as usize;
        self.take(len)
    }

    fn string(&mut self) -> Result<String, &'static str> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "a string is not UTF-8")
    }

    fn opt_string(&mut self) -> Result<Option<String>, &'static str> {
        Ok(if self.bool()? {
            Some(self.string()?)
        } else {
            None
        })
    }

    fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, &'static str>,
    ) -> Result<Vec<T>, &'static str> {
        let count = self.u32()? as usize;
        // Every item takes at least one byte, so a count beyond the rest is corrupt; checking
        // first keeps a corrupt count from reserving gigabytes.
        if count > self.0.len() {
            return Err("the configuration is truncated");
        }
        // Reserve no more than the bytes left could hold, whatever the count says: a large
        // configuration's count, corrupted, must not reserve past a 32-bit memory.
        let room = self.0.len() / core::mem::size_of::<T>().max(1);
        let mut items = Vec::with_capacity(count.min(room));
        for _ in 0..count {
            items.push(item(self)?);
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Config {
        Config {
            backend: BackendKind::Fs,
            dir: Some("/kv".into()),
            allow: vec!["a".into(), "".into()],
            deny: vec!["forbidden".into()],
            read_only: true,
            sync: SyncMode::Never,
            max_value_size: Some(1024),
            max_keys: Some(0),
            page_keys: Some(7),
            trace: Trace::Json,
            faults: vec![
                Fault {
                    bucket: Some("b".into()),
                    key: Some("k=@[]".into()),
                    ..Fault::new(Op::Get, Some(3), ErrorCase::Other("boom".into()))
                },
                Fault::new(Op::DeleteMany, None, ErrorCase::AccessDenied),
                Fault {
                    bucket: Some(String::new()),
                    ..Fault::new(Op::Open, None, ErrorCase::NoSuchStore)
                },
            ],
            seeds: vec![Seed {
                bucket: "".into(),
                key: "k\0/..".into(),
                value: vec![0, 255],
            }],
            redis: RedisConfig {
                urls: vec!["redis://u:p@127.0.0.1:6379/2".into()],
                key_prefix: "app:".into(),
                timeout_ms: Some(250),
                url_env: Some("REDIS_URL".into()),
                topology: Some(RedisTopology::Cluster),
                sentinel: Some("mymaster".into()),
                tls: true,
                tls_ca: Some("-----BEGIN CERTIFICATE-----\n".into()),
                tls_insecure_skip_verify: true,
            },
        }
    }

    #[test]
    fn redis_urls_parse_and_bad_ones_say_the_form() {
        let url = RedisUrl::parse("redis://me:p%40ss@cache.local:6380/3").unwrap();
        assert_eq!(
            url,
            RedisUrl {
                host: "cache.local".into(),
                port: 6380,
                user: Some("me".into()),
                password: Some("p@ss".into()),
                db: 3,
                tls: false,
            }
        );
        let tls = RedisUrl::parse("rediss://:pw@127.0.0.1:6380").unwrap();
        assert!(tls.tls && tls.host == "127.0.0.1" && tls.port == 6380);
        let plain = RedisUrl::parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!((plain.user, plain.password, plain.db), (None, None, 0));
        let v6 = RedisUrl::parse("redis://:secret@[::1]:7000/").unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.password.as_deref()),
            ("::1", Some("secret"))
        );
        assert_eq!(v6.server(), "[::1]:7000");
        for bad in [
            "http://h:1",
            "redis://h",
            "redis://h:0",
            "redis://h:99999",
            "redis://:1",
            "redis://h:1/x",
            "redis://user@h:1",
        ] {
            let error = RedisUrl::parse(bad).expect_err(bad);
            assert!(error.contains('`'), "{error}");
        }
        let error = RedisUrl::parse("redis://u:hunter2@h").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(mask("redis://u:hunter2@h:1/0"), "redis://u:***@h:1/0");
        assert_eq!(mask("redis://:hunter2@h:1"), "redis://:***@h:1");
        assert_eq!(mask("redis://h:1"), "redis://h:1");
        assert_eq!(mask("rediss://u:hunter2@h:1"), "rediss://u:***@h:1");
        assert_eq!(mask("redis://h:1/0?password=hunter2"), "redis://h:1/0?***");
    }

    #[test]
    fn queries_are_refused_without_showing_the_password() {
        for url in [
            "redis://h:6379/0?password=hunter2",
            "rediss://u:hunter2@h:6380/0?password=hunter2",
        ] {
            let error = RedisUrl::parse(url).unwrap_err();
            assert!(
                error.contains("query") && !error.contains("hunter2"),
                "{error}"
            );
        }
    }

    #[test]
    fn round_trips() {
        assert_eq!(Config::decode(&sample().encode()), Ok(sample()));
        assert_eq!(
            Config::decode(&Config::default().encode()),
            Ok(Config::default())
        );
    }

    #[test]
    fn a_page_of_no_keys_is_refused() {
        let bytes = Config {
            page_keys: Some(0),
            ..Config::default()
        }
        .encode();
        assert_eq!(
            Config::decode(&bytes),
            Err("a page of 0 keys (--page-keys takes 1 to 1000)")
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(
                Config::decode(&bytes[..len]).is_err(),
                "prefix of {len} bytes"
            );
        }
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut corrupt = bytes.clone();
                corrupt[i] ^= flip;
                let _ = Config::decode(&corrupt);
            }
        }
        let mut trailing = bytes;
        trailing.push(0);
        assert!(
            Config::decode(&trailing)
                .unwrap_err()
                .contains("unexpected bytes")
        );
    }

    /// A seed count corrupted to as many items as there are bytes left (each item takes at
    /// least one) is an error once the items run out; what it reserves is bounded by the bytes
    /// left, not by the count times the size of a seed.
    #[test]
    fn a_corrupt_count_in_a_large_configuration_is_an_error() {
        let no_seeds = Config {
            seeds: Vec::new(),
            redis: RedisConfig::default(),
            ..sample()
        };
        let mut bytes = Config {
            seeds: vec![Seed {
                bucket: "b".into(),
                key: "k".into(),
                value: vec![7; 1 << 20],
            }],
            redis: RedisConfig::default(),
            ..sample()
        }
        .encode();
        // The seed count: the first byte where the two encodings differ (0 against 1).
        let count_at = no_seeds
            .encode()
            .iter()
            .zip(&bytes)
            .position(|(a, b)| a != b)
            .unwrap();
        assert_eq!(bytes[count_at..count_at + 4], 1u32.to_le_bytes());
        let left = (bytes.len() - count_at - 4) as u32;
        bytes[count_at..count_at + 4].copy_from_slice(&left.to_le_bytes());
        assert!(Config::decode(&bytes).is_err());
    }

    #[test]
    fn error_case_names_round_trip() {
        for case in [
            ErrorCase::NoSuchStore,
            ErrorCase::AccessDenied,
            ErrorCase::Other("disk: on fire".into()),
            ErrorCase::Other(String::new()),
        ] {
            assert_eq!(ErrorCase::from_name(&case.to_string()), Some(case));
        }
        for bad in ["", "other", "Other:x", "access-denied:x", "no-such-store "] {
            assert_eq!(ErrorCase::from_name(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn op_names_round_trip() {
        for (index, op) in Op::ALL.into_iter().enumerate() {
            assert_eq!(Op::from_name(op.name()), Some(op));
            assert_eq!(op.index(), index);
        }
        assert_eq!(Op::from_name("frobnicate"), None);
    }
}
