//! The configuration options shared by `build` and `plug`, and how they become a [`Config`].
//!
//! Each option's value is checked on its own by a clap value parser (clap names the option in
//! its error), except `--url`, whose value clap's error would echo, password included;
//! [`ConfigArgs::to_config`] then checks the URLs, reads the seed files and checks the options
//! against each other. Both happen before anything is written.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use keyvalue_virt_compose::config::{
    BackendKind, Config, ErrorCase, Fault, Op, RedisConfig, RedisTopology, RedisUrl, Seed,
    SyncMode, Trace, percent_decode,
};

use super::seed_file;

/// The configuration options of `build` and `plug`.
#[derive(Args, Debug, Default, Clone)]
#[command(next_help_heading = "Configuration (baked into the component)")]
pub struct ConfigArgs {
    /// Where the data lives [default: memory]
    ///
    /// `memory` keeps it in the instance's memory for as long as the instance lives; `fs`
    /// keeps it in files under --dir, a directory the runtime grants the app, shared by every
    /// instance and process that uses it (the component with fs is larger: 182 KB, not 118);
    /// `redis` keeps it on the Redis server or cluster at --url, over `wasi:sockets` TCP
    /// (189 KB; run with `wasmtime run -S inherit-network`).
    #[arg(long, value_enum, value_name = "BACKEND")]
    pub backend: Option<Backend>,

    /// The store's directory for `--backend fs`, as the app sees it (absolute, like `/kv`)
    ///
    /// The runtime must grant it, e.g. `wasmtime run --dir ./data::/kv`.
    #[arg(long, value_name = "GUEST_PATH", value_parser = parse_dir)]
    pub dir: Option<String>,

    /// Whether `--backend fs` syncs writes to disk: `always` or `never` [default: always]
    ///
    /// `always` syncs every write before it returns, so a returned write survives a power loss
    /// where the runtime syncs; `never` skips the syncs: writes stay atomic and exact across
    /// instances, but a machine crash may lose the last writes (for test doubles and caches).
    #[arg(long, value_name = "WHEN", value_parser = parse_sync)]
    pub sync: Option<SyncMode>,

    /// The Redis server for `--backend redis`: redis://[user:password@]HOST:PORT[/DB]
    ///
    /// Repeat it to give several seed nodes of a Redis Cluster (cluster mode is detected from
    /// the server). WARNING: a password given here is baked into the component, readable by
    /// anyone who has the file (`keyvalue-virt config` prints it masked).
    // Checked by `to_config`, not by a clap value parser: clap's error would echo the value,
    // password included.
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,

    /// Read the Redis URL (password included) from the environment variable NAME when the
    /// instance starts, instead of baking it with --url
    ///
    /// Run with `wasmtime run --env NAME=redis://...` (or `wasmtime serve --env`); only the
    /// variable's name is baked, and `keyvalue-virt config` shows it.
    #[arg(long, value_name = "NAME", conflicts_with = "urls")]
    pub url_env: Option<String>,

    /// A Sentinel to ask for the primary of --sentinel-service, for `--backend redis`:
    /// redis://[user:password@]HOST:PORT[/DB]
    ///
    /// Repeat it for several Sentinels (asked in turn). The primary is asked of them before
    /// the first command and again after a failover; the instance follows it without a
    /// restart. The first URL's user and password are used for the Sentinels and the data
    /// nodes alike, and its /DB on the primary. Instead of --url and --url-env.
    // Checked by `to_config`, as --url is.
    #[arg(long = "sentinel", value_name = "URL")]
    pub sentinels: Vec<String>,

    /// The name of the service (`sentinel monitor NAME ...`) whose primary the --sentinel
    /// Sentinels give
    #[arg(long, value_name = "NAME")]
    pub sentinel_service: Option<String>,

    /// Declare the Redis topology, `standalone` or `cluster`, so that a fresh instance sends
    /// its first command without asking the server first [default: asked]
    #[arg(long, value_name = "TOPOLOGY", value_parser = parse_topology)]
    pub topology: Option<RedisTopology>,

    /// Use the TLS build of `--backend redis`, so that a rediss:// URL read at run time
    /// (--url-env) works
    ///
    /// Implied by a rediss:// --url or --sentinel, --tls-ca and --tls-insecure-skip-verify.
    /// The TLS build is larger (rustls with pure-Rust algorithms) and imports wasi:random and
    /// wasi:clocks/wall-clock too; it still serves redis:// URLs.
    #[arg(long)]
    pub tls: bool,

    /// Check a rediss:// server's certificate against the CA certificates in FILE (PEM),
    /// instead of the built-in roots (Mozilla's), e.g. for a self-signed server
    ///
    /// Read now and baked into the component (a CA certificate is public).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// INSECURE: accept any certificate from a rediss:// server, so that whoever answers at
    /// its address gets the traffic (password included); for test servers only
    #[arg(long, conflicts_with = "tls_ca")]
    pub tls_insecure_skip_verify: bool,

    /// Put PREFIX before every Redis key `--backend redis` writes [default: none]
    #[arg(long, value_name = "PREFIX")]
    pub key_prefix: Option<String>,

    /// How long one call of `--backend redis` may take at most, retries included
    /// [default: 5000]
    ///
    /// A server that does not answer in time gives `error::other`, never a hang.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: Option<u64>,

    /// Only let bucket NAME open (repeat for more); others get `access-denied`
    ///
    /// Without --bucket, any bucket opens. The empty name is a bucket too: `--bucket ''`.
    #[arg(long = "bucket", value_name = "NAME")]
    pub buckets: Vec<String>,

    /// Never let bucket NAME open (repeat for more): `access-denied`
    #[arg(long = "deny-bucket", value_name = "NAME")]
    pub deny_buckets: Vec<String>,

    /// Refuse every write with `access-denied`
    ///
    /// Reads still work; combine with --seed or --seed-file to serve fixed data.
    #[arg(long)]
    pub read_only: bool,

    /// Refuse to store values larger than BYTES (`error::other`)
    ///
    /// A number of bytes, or a number with a unit: B, KB, MB, GB (powers of 1000) or KiB, MiB,
    /// GiB (powers of 1024), e.g. `4096`, `64KiB`, `1MB`.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_value_size: Option<u64>,

    /// Refuse new keys once a bucket holds N keys (`error::other`)
    #[arg(long, value_name = "N")]
    pub max_keys: Option<u64>,

    /// Return at most N keys per `list-keys` page (1 to 1000; default 1000)
    ///
    /// Small pages make an app's paging code run in its tests: an app that drops the cursor
    /// sees only the first N keys. Any store may page so; the drafts fix no page size.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub page_keys: Option<u64>,

    /// Store VALUE under KEY in BUCKET before the app runs (repeat for more)
    ///
    /// Split at the first `:` and then the first `=`: the bucket cannot contain `:`, the key
    /// cannot contain `=`, the value can contain anything. VALUE is UTF-8 text; `=@FILE`
    /// takes the value's bytes from FILE, and `=@@TEXT` stores `@TEXT`. An empty bucket is
    /// written `:KEY=VALUE`.
    #[arg(long = "seed", value_name = "BUCKET:KEY=VALUE", value_parser = parse_seed)]
    pub seeds: Vec<SeedArg>,

    /// Store the keys and values of a JSON file before the app runs (repeat for more)
    ///
    /// The file holds an object of buckets, each an object of keys; a value is a string
    /// (UTF-8 text) or `{"base64": "..."}` (any bytes), e.g.
    /// `{"users": {"alice": "{\"age\": 30}", "avatar": {"base64": "iVBORw0K"}}}`.
    #[arg(long = "seed-file", value_name = "FILE.json")]
    pub seed_files: Vec<PathBuf>,

    /// Make operation OP fail with ERROR, on every call or only on the Nth (repeat for more)
    ///
    /// OP is one of open, get, set, delete, exists, list-keys, increment, cas-new,
    /// cas-current, swap, get-many, set-many, delete-many. ERROR is `no-such-store`,
    /// `access-denied` or `other:MESSAGE`. `@N` (N ≥ 1) makes only the Nth call that the
    /// fault matches in the instance fail; it is read only if what follows the last `@` is all
    /// digits, so a MESSAGE may contain `@`. Example: `--fail 'get=other:disk full@3'`.
    ///
    /// `OP:BUCKET` limits the fault to calls on BUCKET (`OP:` is the empty bucket), and
    /// `OP:BUCKET/KEY` to calls that name KEY too (a batch: among its keys); `*` as BUCKET
    /// means any bucket. Write `%25` for `%` and `%3D` for `=` in BUCKET and KEY, `%2F` for
    /// `/` in BUCKET, and `%2A` for a bucket named `*`. Example: `--fail
    /// 'get:*/session:42=other:boom'`.
    #[arg(
        long = "fail",
        value_name = "OP[:BUCKET[/KEY]]=ERROR[@N]",
        value_parser = parse_fault
    )]
    pub faults: Vec<Fault>,

    /// Write one line per operation to the app's stderr: `--trace` for people, `--trace=json`
    /// for tools
    ///
    /// `--trace=json` writes one JSON object per line, starting `{"keyvalue-virt":1,`, with
    /// every key the call named and the sizes of the values it wrote.
    #[arg(
        long,
        value_name = "FORMAT",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "text",
        value_parser = parse_trace
    )]
    pub trace: Option<Trace>,
}

/// The values of `--backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// In the instance's memory.
    Memory,
    /// In files under --dir.
    Fs,
    /// On the Redis server or cluster at --url.
    Redis,
}

/// A `--seed` as given: where the value comes from is resolved by [`ConfigArgs::to_config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedArg {
    /// The option's value as the user wrote it, for messages.
    pub raw: String,
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The value, or the file that holds it.
    pub value: SeedValue,
}

/// The value of a `--seed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedValue {
    /// `=TEXT` (or `=@@TEXT` for text that starts with `@`).
    Text(String),
    /// `=@FILE`.
    File(PathBuf),
}

/// Where a seed was given, for messages.
#[derive(Debug, Clone)]
enum Origin {
    Arg(String),
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Arg(raw) => write!(f, "--seed `{raw}`"),
            Origin::File(path) => write!(f, "--seed-file `{}`", path.display()),
        }
    }
}

impl ConfigArgs {
    /// Checks --sentinel and --sentinel-service: both or neither, and instead of the other
    /// ways to name the servers.
    fn check_sentinel(&self) -> Result<()> {
        if self.sentinels.is_empty() {
            if let Some(name) = &self.sentinel_service {
                bail!(
                    "--sentinel-service `{name}` needs the Sentinels to ask: add --sentinel \
                     redis://HOST:PORT (once per Sentinel)"
                );
            }
            return Ok(());
        }
        let other = [
            ("--url", !self.urls.is_empty()),
            ("--url-env", self.url_env.is_some()),
            ("--topology", self.topology.is_some()),
        ];
        if let Some((option, _)) = other.into_iter().find(|(_, given)| *given) {
            bail!(
                "--sentinel and {option} cannot be used together: with --sentinel the Sentinels \
                 name the one primary; give --url (with --url-env or --topology) for a server \
                 or cluster, or --sentinel with --sentinel-service for a primary that \
                 Sentinels watch"
            );
        }
        let Some(name) = &self.sentinel_service else {
            bail!(
                "--sentinel needs --sentinel-service NAME, the service the Sentinels monitor \
                 (`sentinel monitor NAME ...`; `redis-cli -p PORT SENTINEL MASTERS` lists them)"
            );
        };
        if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
            bail!("--sentinel-service `{name}` is not a service name (a word without spaces)");
        }
        for url in &self.sentinels {
            check_url_of("--sentinel", url)?;
        }
        Ok(())
    }

    /// Whether the TLS build is wanted, and the CA file's text (checked); the URLs' schemes
    /// must agree with the TLS options.
    fn tls_settings(&self) -> Result<(bool, Option<String>)> {
        let urls = match self.sentinels.is_empty() {
            true => &self.urls,
            false => &self.sentinels,
        };
        let secure = urls
            .iter()
            .filter(|url| url.starts_with("rediss://"))
            .count();
        if secure > 0 && secure < urls.len() {
            bail!(
                "some URLs are rediss:// (TLS) and some redis://; every node of a deployment \
                 speaks one or the other: give them all the same scheme"
            );
        }
        let options = [
            ("--tls", self.tls),
            ("--tls-ca", self.tls_ca.is_some()),
            ("--tls-insecure-skip-verify", self.tls_insecure_skip_verify),
        ];
        if secure == 0
            && !urls.is_empty()
            && let Some((option, _)) = options.iter().find(|(_, given)| *given)
        {
            bail!(
                "{option} is for rediss:// (TLS) URLs, and the URLs given are redis://; write \
                 rediss://HOST:PORT for a server's TLS port, or drop {option}"
            );
        }
        let tls_ca = match &self.tls_ca {
            None => None,
            Some(path) => {
                let pem = std::fs::read_to_string(path)
                    .with_context(|| format!("failed to read --tls-ca `{}`", path.display()))?;
                keyvalue_virt_core::backend::redis::check_tls_ca(&pem).map_err(|problem| {
                    anyhow::anyhow!("invalid --tls-ca `{}`: {problem}", path.display())
                })?;
                Some(pem)
            }
        };
        Ok((
            secure > 0 || options.iter().any(|(_, given)| *given),
            tls_ca,
        ))
    }

    /// Reads the seed files and `--seed` value files, checks the options against each other,
    /// and returns the configuration to bake.
    pub fn to_config(&self) -> Result<Config> {
        let backend = match self.backend {
            None | Some(Backend::Memory) => BackendKind::Memory,
            Some(Backend::Fs) => BackendKind::Fs,
            Some(Backend::Redis) => BackendKind::Redis,
        };
        match (backend, &self.dir) {
            (BackendKind::Fs, None) => bail!(
                "--backend fs needs --dir GUEST_PATH, the directory the runtime grants the app; \
                 add e.g. `--dir /kv` (and run with `wasmtime run --dir ./data::/kv`)"
            ),
            (BackendKind::Memory | BackendKind::Redis, Some(dir)) => bail!(
                "--dir `{dir}` is only used by the fs backend; add `--backend fs`, or drop --dir"
            ),
            _ => {}
        }
        if let (BackendKind::Memory | BackendKind::Redis, Some(sync)) = (backend, self.sync) {
            bail!(
                "--sync `{}` is only used by the fs backend; add `--backend fs`, or drop --sync",
                sync.name()
            );
        }

        self.check_sentinel()?;
        let no_url = self.urls.is_empty() && self.url_env.is_none() && self.sentinels.is_empty();
        match (backend, no_url) {
            (BackendKind::Redis, true) => bail!(
                "--backend redis needs --url redis://HOST:PORT, the server to use; add e.g. \
                 `--url redis://127.0.0.1:6379` (and run with `wasmtime run -S inherit-network`), \
                 or --sentinel redis://HOST:PORT --sentinel-service NAME for a primary that \
                 Sentinels watch"
            ),
            (BackendKind::Memory | BackendKind::Fs, false) => {
                bail!(
                    "--url, --url-env and --sentinel are only used by the redis backend; add \
                     `--backend redis`, or drop them"
                )
            }
            _ => {}
        }
        for url in &self.urls {
            check_url(url)?;
        }
        if backend == BackendKind::Redis
            && let Some(max) = self.max_keys
        {
            // Counting a bucket's keys takes a SCAN of the whole keyspace, and a count kept on
            // the server cannot be updated atomically on a cluster (a bucket spans every slot).
            bail!(
                "--max-keys is not supported by the redis backend (counting a bucket's keys \
                 takes a scan of the whole database on every new key); drop --max-keys {max}, \
                 or cap the database with Redis's own `maxmemory`"
            );
        }
        if backend != BackendKind::Redis {
            let given: Vec<&str> = [
                ("--sentinel-service", self.sentinel_service.is_some()),
                ("--key-prefix", self.key_prefix.is_some()),
                ("--timeout-ms", self.timeout_ms.is_some()),
                ("--topology", self.topology.is_some()),
                ("--tls", self.tls),
                ("--tls-ca", self.tls_ca.is_some()),
                ("--tls-insecure-skip-verify", self.tls_insecure_skip_verify),
            ]
            .into_iter()
            .filter_map(|(option, given)| given.then_some(option))
            .collect();
            match given[..] {
                [] => {}
                [one] => bail!(
                    "{one} is only used by the redis backend; add `--backend redis`, or drop {one}"
                ),
                _ => bail!(
                    "{} are only used by the redis backend; add `--backend redis`, or drop them",
                    given.join(" and ")
                ),
            }
        }
        if let Some(name) = &self.url_env
            && (name.is_empty() || name.contains(['=', '\0']))
        {
            bail!("--url-env `{name}` is not an environment variable's name");
        }
        if self.topology == Some(RedisTopology::Standalone) && self.urls.len() > 1 {
            bail!(
                "--topology standalone takes one --url, not {}; give one, or declare \
                 --topology cluster for the seed nodes of a cluster",
                self.urls.len()
            );
        }

        let (tls, tls_ca) = self.tls_settings()?;

        let allow = dedup(&self.buckets);
        let deny = dedup(&self.deny_buckets);
        if let Some(both) = allow.iter().find(|name| deny.contains(name)) {
            bail!(
                "bucket {both:?} is both allowed (--bucket) and denied (--deny-bucket); drop one \
                 of the two"
            );
        }

        let faults = order_faults(&self.faults)?;

        let mut seeds = Vec::new();
        for path in &self.seed_files {
            let bytes = std::fs::read(path)
                .with_context(|| format!("failed to read seed file `{}`", path.display()))?;
            let parsed = seed_file::parse(&bytes).map_err(|problem| {
                anyhow::anyhow!("invalid seed file `{}`: {problem}", path.display())
            })?;
            seeds.extend(
                parsed
                    .into_iter()
                    .map(|seed| (seed, Origin::File(path.clone()))),
            );
        }
        for arg in &self.seeds {
            let value = match &arg.value {
                SeedValue::Text(text) => text.clone().into_bytes(),
                SeedValue::File(path) => std::fs::read(path).with_context(|| {
                    format!(
                        "failed to read `{}` for --seed `{}`",
                        path.display(),
                        arg.raw
                    )
                })?,
            };
            let seed = Seed {
                bucket: arg.bucket.clone(),
                key: arg.key.clone(),
                value,
            };
            seeds.push((seed, Origin::Arg(arg.raw.clone())));
        }

        let config = Config {
            backend,
            dir: self.dir.clone(),
            sync: self.sync.unwrap_or_default(),
            allow,
            deny,
            read_only: self.read_only,
            max_value_size: self.max_value_size,
            max_keys: self.max_keys,
            page_keys: self.page_keys,
            trace: self.trace.unwrap_or_default(),
            faults,
            seeds: Vec::new(),
            redis: RedisConfig {
                urls: match self.sentinels.is_empty() {
                    true => self.urls.clone(),
                    false => self.sentinels.clone(),
                },
                key_prefix: self.key_prefix.clone().unwrap_or_default(),
                timeout_ms: self.timeout_ms,
                url_env: self.url_env.clone(),
                topology: self.topology,
                sentinel: self.sentinel_service.clone(),
                tls,
                tls_ca,
                tls_insecure_skip_verify: self.tls_insecure_skip_verify,
            },
        };
        check_seeds(&config, &seeds)?;
        Ok(Config {
            seeds: seeds.into_iter().map(|(seed, _)| seed).collect(),
            ..config
        })
    }
}

/// Refuses seeds that could never be read, break a limit, or are given twice.
fn check_seeds(config: &Config, seeds: &[(Seed, Origin)]) -> Result<()> {
    let mut seen: HashMap<(&str, &str), &Origin> = HashMap::new();
    let mut per_bucket: HashMap<&str, u64> = HashMap::new();
    for (seed, origin) in seeds {
        let what = format!(
            "the seed of key {:?} in bucket {:?} ({origin})",
            seed.key, seed.bucket
        );
        if !config.allow.is_empty() && !config.allow.contains(&seed.bucket) {
            bail!(
                "{what} could never be read: the bucket is not in the --bucket allow list ({}); \
                 add `--bucket {}` or drop the seed",
                quoted_list(&config.allow),
                shell_word(&seed.bucket)
            );
        }
        if config.deny.contains(&seed.bucket) {
            bail!(
                "{what} could never be read: the bucket is denied by --deny-bucket; drop the \
                 seed or the --deny-bucket"
            );
        }
        if let Some(max) = config.max_value_size
            && seed.value.len() as u64 > max
        {
            bail!(
                "{what} is {} bytes, more than --max-value-size {max}; raise --max-value-size \
                 or shorten the value",
                seed.value.len()
            );
        }
        if let Some(first) = seen.insert((&seed.bucket, &seed.key), origin) {
            bail!("{what} is seeded twice, also by {first}; keep one of the two");
        }
        let count = per_bucket.entry(&seed.bucket).or_default();
        *count += 1;
        if let Some(max) = config.max_keys
            && *count > max
        {
            bail!(
                "bucket {:?} is seeded with more than --max-keys {max} keys; raise --max-keys \
                 or seed fewer keys",
                seed.bucket
            );
        }
    }
    Ok(())
}

/// Puts the faults for one call (`@N`) before those for every call, and faults on a key or a
/// bucket before wider ones, since the first fault that fires on a call wins; refuses two
/// faults for the same calls of the same operation.
fn order_faults(faults: &[Fault]) -> Result<Vec<Fault>> {
    for (i, fault) in faults.iter().enumerate() {
        if let Some(other) = faults[..i].iter().find(|other| {
            other.op == fault.op
                && other.nth == fault.nth
                && other.bucket == fault.bucket
                && other.key == fault.key
        }) {
            bail!(
                "--fail `{}` and --fail `{}` both decide the same calls of `{}`; keep one of \
                 the two",
                fault_spelling(other),
                fault_spelling(fault),
                fault.op.name()
            );
        }
    }
    let mut ordered = faults.to_vec();
    // A stable sort keeps the order given among equally specific faults.
    ordered.sort_by_key(|fault| {
        (
            fault.nth.is_none(),
            fault.key.is_none(),
            fault.bucket.is_none(),
        )
    });
    Ok(ordered)
}

/// How `fault` is written as a `--fail` value.
pub fn fault_spelling(fault: &Fault) -> String {
    let mut op = fault.op.name().to_owned();
    match (&fault.bucket, &fault.key) {
        (None, None) => {}
        (bucket, key) => {
            op.push(':');
            match bucket {
                None => op.push('*'),
                Some(bucket) if bucket == "*" => op.push_str("%2A"),
                Some(bucket) => op.push_str(&escape(bucket, "%=/")),
            }
            if let Some(key) = key {
                op.push('/');
                op.push_str(&escape(key, "%="));
            }
        }
    }
    let error = &fault.error;
    match fault.nth {
        Some(nth) => format!("{op}={error}@{nth}"),
        None => format!("{op}={error}"),
    }
}

/// `text` with each of `special` written as `%XX`.
fn escape(text: &str, special: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if special.contains(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn dedup(names: &[String]) -> Vec<String> {
    let mut unique: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        if !unique.contains(name) {
            unique.push(name.clone());
        }
    }
    unique
}

/// `names` quoted and escaped, separated by commas.
pub fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("{name:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `name` as one shell word, for suggested commands and for printing options back.
pub fn shell_word(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@%+,=".contains(c));
    if plain {
        name.to_owned()
    } else {
        format!("'{}'", name.replace('\'', r"'\''"))
    }
}

/// The names of every operation, separated by commas, for messages.
fn op_list() -> String {
    Op::ALL.map(Op::name).join(", ")
}

/// Parses `--fail OP[:BUCKET[/KEY]]=ERROR[@N]`.
pub fn parse_fault(value: &str) -> Result<Fault, String> {
    let Some((op, error)) = value.split_once('=') else {
        return Err(
            "expected OP[:BUCKET[/KEY]]=ERROR[@N], like `get=access-denied`, \
                    `set=other:disk full@3` or `get:*/session:42=other:boom`"
                .into(),
        );
    };
    let (op, bucket, key) = match op.split_once(':') {
        None => (op, None, None),
        Some((op, scope)) => {
            let (bucket, key) = match scope.split_once('/') {
                Some((bucket, key)) => (bucket, Some(key)),
                None => (scope, None),
            };
            let decode = |text: &str| {
                percent_decode(text.as_bytes()).ok_or_else(|| {
                    format!(
                        "`{text}` in --fail `{value}` has a `%` that is not followed by two hex \
                         digits of UTF-8: write `%25` for `%`"
                    )
                })
            };
            let bucket = match bucket {
                "*" => None,
                bucket => Some(decode(bucket)?),
            };
            (op, bucket, key.map(decode).transpose()?)
        }
    };
    let op = Op::from_name(op)
        .ok_or_else(|| format!("unknown operation `{op}`; OP is one of {}", op_list()))?;
    let (error, nth) = match error.rsplit_once('@') {
        Some((error, digits))
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            let nth: u64 = digits
                .parse()
                .map_err(|_| format!("call number `{digits}` is too large"))?;
            if nth == 0 {
                return Err("calls are counted from 1: write `@1` for the first call".into());
            }
            (error, Some(nth))
        }
        _ => (error, None),
    };
    let error = ErrorCase::from_name(error)
        .ok_or_else(|| format!("ERROR must be {}, not `{error}`", ErrorCase::SYNTAX))?;
    Ok(Fault {
        op,
        nth,
        error,
        bucket,
        key,
    })
}

/// Parses `--seed BUCKET:KEY=VALUE`.
pub fn parse_seed(value: &str) -> Result<SeedArg, String> {
    const SHAPE: &str = "expected BUCKET:KEY=VALUE, like `users:alice=30` (`:KEY=VALUE` for the \
                         bucket named \"\")";
    let Some((bucket, rest)) = value.split_once(':') else {
        return Err(format!("no `:` after the bucket; {SHAPE}"));
    };
    let Some((key, text)) = rest.split_once('=') else {
        return Err(format!("no `=` after the key; {SHAPE}"));
    };
    let value_of = if let Some(text) = text.strip_prefix("@@") {
        SeedValue::Text(format!("@{text}"))
    } else if let Some(file) = text.strip_prefix('@') {
        if file.is_empty() {
            return Err(
                "`=@` must be followed by a file name (`=@FILE`); write `=@@` for the value `@`"
                    .into(),
            );
        }
        SeedValue::File(Path::new(file).to_path_buf())
    } else {
        SeedValue::Text(text.to_owned())
    };
    Ok(SeedArg {
        raw: value.to_owned(),
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        value: value_of,
    })
}

/// Parses `--max-value-size`: bytes, or a number with a unit.
pub fn parse_size(value: &str) -> Result<u64, String> {
    let digits = value.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = value.split_at(digits);
    if number.is_empty() {
        return Err("expected a number of bytes, like `65536`, `64KiB` or `4MiB`".into());
    }
    let scale: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "k" | "m" | "g" => {
            return Err(format!(
                "unit `{unit}` is ambiguous; write `{unit}iB` (powers of 1024) or `{unit}B` \
                 (powers of 1000)",
                unit = unit.to_ascii_uppercase()
            ));
        }
        _ => {
            return Err(format!(
                "unknown unit `{unit}`; use B, KB, MB, GB, KiB, MiB or GiB (whole numbers only)"
            ));
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| format!("`{value}` is too large"))
}

/// The names of every sync mode in backticks, the last after `or`, for messages.
fn sync_list() -> String {
    let names = SyncMode::ALL.map(|mode| format!("`{}`", mode.name()));
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Parses `--topology`.
pub fn parse_topology(value: &str) -> Result<RedisTopology, String> {
    RedisTopology::from_name(value)
        .ok_or_else(|| format!("TOPOLOGY must be standalone or cluster, not `{value}`"))
}

/// Parses the FORMAT of `--trace=FORMAT`: `text` or `json`.
pub fn parse_trace(value: &str) -> Result<Trace, String> {
    Trace::from_name(value).ok_or_else(|| format!("FORMAT must be `text` or `json`, not `{value}`"))
}

/// Parses `--sync`'s WHEN.
pub fn parse_sync(value: &str) -> Result<SyncMode, String> {
    SyncMode::from_name(value).ok_or_else(|| format!("WHEN must be {}, not `{value}`", sync_list()))
}

/// Checks a `--url`: a `redis://` URL. The message never shows its password, nor anything
/// before the last `@` of a value that is not a `redis://` URL.
pub fn check_url(value: &str) -> Result<()> {
    check_url_of("--url", value)
}

/// Checks the URL given to `option`, never echoing its password.
fn check_url_of(option: &str, value: &str) -> Result<()> {
    let problem = if value.starts_with("redis://") || value.starts_with("rediss://") {
        match RedisUrl::parse(value) {
            Ok(_) => return Ok(()),
            Err(problem) => problem,
        }
    } else {
        let shown = match value.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => value.to_owned(),
        };
        format!("`{shown}` is not a redis URL: expected redis://[user:password@]HOST:PORT[/DB]")
    };
    bail!("invalid {option}: {problem}")
}

/// Parses `--dir`: an absolute guest path.
pub fn parse_dir(value: &str) -> Result<String, String> {
    if !value.starts_with('/') {
        return Err(format!(
            "GUEST_PATH must be absolute, like `/kv`: it is where the runtime mounts the \
             directory in the app (`wasmtime run --dir ./data::/kv`), not a host path; \
             try `/{}`",
            value.trim_start_matches("./")
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(op: Op, nth: Option<u64>, error: ErrorCase) -> Fault {
        Fault::new(op, nth, error)
    }

    #[test]
    fn fail_reads_a_bucket_and_a_key_and_spells_them_back() {
        let scoped = |bucket: Option<&str>, key: Option<&str>| Fault {
            bucket: bucket.map(Into::into),
            key: key.map(Into::into),
            ..fault(Op::Get, None, ErrorCase::Other("boom".into()))
        };
        for (spelled, expected) in [
            (
                "get:*/session:42=other:boom",
                scoped(None, Some("session:42")),
            ),
            ("get:users=other:boom", scoped(Some("users"), None)),
            ("get:=other:boom", scoped(Some(""), None)),
            ("get:/=other:boom", scoped(Some(""), Some(""))),
            (
                "get:%2A/a%3Db%25=other:boom",
                scoped(Some("*"), Some("a=b%")),
            ),
            ("get:a%2Fb/c/d=other:boom", scoped(Some("a/b"), Some("c/d"))),
        ] {
            assert_eq!(parse_fault(spelled), Ok(expected.clone()), "{spelled}");
            assert_eq!(fault_spelling(&expected), spelled);
        }
        let error = parse_fault("get:50%/k=other:x").unwrap_err();
        assert!(error.contains("write `%25` for `%`"), "{error}");
    }

    #[test]
    fn fail_accepts_every_op_and_error() {
        for op in Op::ALL {
            assert_eq!(
                parse_fault(&format!("{}=access-denied", op.name())),
                Ok(fault(op, None, ErrorCase::AccessDenied))
            );
        }
        assert_eq!(
            parse_fault("open=no-such-store"),
            Ok(fault(Op::Open, None, ErrorCase::NoSuchStore))
        );
        assert_eq!(
            parse_fault("get=other:boom"),
            Ok(fault(Op::Get, None, ErrorCase::Other("boom".into())))
        );
        assert_eq!(
            parse_fault("get=other:"),
            Ok(fault(Op::Get, None, ErrorCase::Other(String::new())))
        );
    }

    #[test]
    fn fail_reads_the_call_number_only_after_the_last_at() {
        assert_eq!(
            parse_fault("get=other:disk full@3"),
            Ok(fault(
                Op::Get,
                Some(3),
                ErrorCase::Other("disk full".into())
            ))
        );
        assert_eq!(
            parse_fault("set=access-denied@1"),
            Ok(fault(Op::Set, Some(1), ErrorCase::AccessDenied))
        );
        assert_eq!(
            parse_fault("get=other:mail me@example.com"),
            Ok(fault(
                Op::Get,
                None,
                ErrorCase::Other("mail me@example.com".into())
            ))
        );
        assert_eq!(
            parse_fault("get=other:a@b@2"),
            Ok(fault(Op::Get, Some(2), ErrorCase::Other("a@b".into())))
        );
        assert_eq!(
            parse_fault("get=other:trailing@"),
            Ok(fault(Op::Get, None, ErrorCase::Other("trailing@".into())))
        );
        assert_eq!(
            parse_fault("get=other:=:"),
            Ok(fault(Op::Get, None, ErrorCase::Other("=:".into())))
        );
    }

    #[test]
    fn fail_rejects_bad_forms_with_the_fix() {
        let cases = [
            ("get", "expected OP[:BUCKET[/KEY]]=ERROR[@N]"),
            ("", "expected OP[:BUCKET[/KEY]]=ERROR[@N]"),
            (
                "frob=access-denied",
                "unknown operation `frob`; OP is one of open, get",
            ),
            ("Get=access-denied", "unknown operation `Get`"),
            (
                "get=boom",
                "ERROR must be no-such-store, access-denied or other:MESSAGE, not `boom`",
            ),
            ("get=", "not ``"),
            ("get=other", "not `other`"),
            ("get=access-denied@0", "counted from 1"),
            ("get=access-denied@x", "not `access-denied@x`"),
            ("get=access-denied@99999999999999999999999", "too large"),
            ("get=@3", "not ``"),
        ];
        for (value, expected) in cases {
            let error = parse_fault(value).expect_err(value);
            assert!(error.contains(expected), "{value}: {error}");
        }
    }

    #[test]
    fn unknown_operations_are_told_every_operation() {
        assert_eq!(
            parse_fault("frob=access-denied").unwrap_err(),
            "unknown operation `frob`; OP is one of open, get, set, delete, exists, list-keys, \
             increment, cas-new, cas-current, swap, get-many, set-many, delete-many"
        );
    }

    #[test]
    fn the_fail_help_names_every_operation_and_error() {
        let command = ConfigArgs::augment_args(clap::Command::new("test"));
        let help = command
            .get_arguments()
            .find(|arg| arg.get_id() == "faults")
            .and_then(|arg| arg.get_long_help())
            .expect("--fail has a long help")
            .to_string();
        assert!(
            help.contains(&format!("OP is one of {}.", op_list())),
            "{help}"
        );
        for case in [
            ErrorCase::NoSuchStore,
            ErrorCase::AccessDenied,
            ErrorCase::Other("MESSAGE".into()),
        ] {
            assert!(help.contains(&format!("`{case}`")), "{help}");
        }
    }

    #[test]
    fn seed_splits_at_the_first_colon_then_the_first_equals() {
        let seed = parse_seed("users:alice=a:b=c").unwrap();
        assert_eq!(
            (seed.bucket.as_str(), seed.key.as_str(), seed.value),
            ("users", "alice", SeedValue::Text("a:b=c".into()))
        );
        let seed = parse_seed(":=").unwrap();
        assert_eq!(
            (seed.bucket.as_str(), seed.key.as_str(), seed.value),
            ("", "", SeedValue::Text(String::new()))
        );
        let seed = parse_seed("b:k:x=v").unwrap();
        assert_eq!((seed.bucket.as_str(), seed.key.as_str()), ("b", "k:x"));
        assert_eq!(seed.raw, "b:k:x=v");
    }

    #[test]
    fn seed_value_from_a_file_or_escaped_at() {
        assert_eq!(
            parse_seed("b:k=@data.bin").unwrap().value,
            SeedValue::File("data.bin".into())
        );
        assert_eq!(
            parse_seed("b:k=@@handle").unwrap().value,
            SeedValue::Text("@handle".into())
        );
        assert_eq!(
            parse_seed("b:k=@@").unwrap().value,
            SeedValue::Text("@".into())
        );
        assert_eq!(
            parse_seed("b:k=a@b").unwrap().value,
            SeedValue::Text("a@b".into())
        );
    }

    #[test]
    fn seed_rejects_bad_forms() {
        for (value, expected) in [
            ("no-colon=1", "no `:` after the bucket"),
            ("", "no `:` after the bucket"),
            ("bucket:key", "no `=` after the key"),
            ("b:k=@", "followed by a file name"),
        ] {
            let error = parse_seed(value).expect_err(value);
            assert!(error.contains(expected), "{value}: {error}");
            assert!(
                error.contains("BUCKET:KEY=VALUE") || expected.contains("file"),
                "{error}"
            );
        }
    }

    #[test]
    fn sizes_take_units() {
        for (value, bytes) in [
            ("0", 0),
            ("4096", 4096),
            ("12B", 12),
            ("1KB", 1000),
            ("1kb", 1000),
            ("1KiB", 1024),
            ("4MiB", 4 << 20),
            ("4mib", 4 << 20),
            ("2MB", 2_000_000),
            ("1GiB", 1 << 30),
            ("3GB", 3_000_000_000),
            ("18446744073709551615", u64::MAX),
        ] {
            assert_eq!(parse_size(value), Ok(bytes), "{value}");
        }
    }

    #[test]
    fn sizes_reject_bad_forms() {
        for (value, expected) in [
            ("", "expected a number of bytes"),
            ("MiB", "expected a number of bytes"),
            ("-1", "expected a number of bytes"),
            ("1.5MiB", "unknown unit `.5MiB`"),
            ("4XB", "unknown unit `XB`"),
            ("4 MiB", "unknown unit ` MiB`"),
            ("4k", "`K` is ambiguous; write `KiB`"),
            ("4M", "`M` is ambiguous"),
            ("18446744073709551616", "too large"),
            ("17179869184GiB", "too large"),
        ] {
            let error = parse_size(value).expect_err(value);
            assert!(error.contains(expected), "{value}: {error}");
        }
    }

    #[test]
    fn dir_must_be_absolute() {
        assert_eq!(parse_dir("/kv"), Ok("/kv".into()));
        assert_eq!(parse_dir("/"), Ok("/".into()));
        let error = parse_dir("kv").unwrap_err();
        assert!(
            error.contains("must be absolute") && error.contains("try `/kv`"),
            "{error}"
        );
        assert!(parse_dir("./kv").unwrap_err().contains("try `/kv`"));
        assert!(parse_dir("").is_err());
    }

    #[test]
    fn sync_takes_every_mode_by_name() {
        for mode in SyncMode::ALL {
            assert_eq!(parse_sync(mode.name()), Ok(mode));
        }
        assert_eq!(parse_sync("never"), Ok(SyncMode::Never));
    }

    #[test]
    fn unknown_sync_modes_are_told_every_mode() {
        assert_eq!(
            parse_sync("sometimes").unwrap_err(),
            "WHEN must be `always` or `never`, not `sometimes`"
        );
        for value in ["", "Always", "NEVER", " never"] {
            let error = parse_sync(value).expect_err(value);
            assert!(error.contains(&format!("not `{value}`")), "{error}");
        }
    }

    #[test]
    fn the_sync_help_names_every_mode() {
        let command = ConfigArgs::augment_args(clap::Command::new("test"));
        let arg = command
            .get_arguments()
            .find(|arg| arg.get_id() == "sync")
            .expect("--sync exists");
        let short = arg.get_help().expect("--sync has a help").to_string();
        let long = arg
            .get_long_help()
            .expect("--sync has a long help")
            .to_string();
        for mode in SyncMode::ALL {
            let name = format!("`{}`", mode.name());
            assert!(short.contains(&name) && long.contains(&name), "{long}");
        }
        assert!(
            short.contains(&format!("[default: {}]", SyncMode::default().name())),
            "{short}"
        );
    }

    fn args() -> ConfigArgs {
        ConfigArgs::default()
    }

    fn seed(value: &str) -> SeedArg {
        parse_seed(value).unwrap()
    }

    fn error_of(args: ConfigArgs) -> String {
        format!("{:#}", args.to_config().unwrap_err())
    }

    #[test]
    fn no_options_are_the_defaults() {
        assert_eq!(args().to_config().unwrap(), Config::default());
    }

    #[test]
    fn every_option_lands_in_the_config() {
        let config = ConfigArgs {
            backend: Some(Backend::Fs),
            dir: Some("/kv".into()),
            sync: Some(SyncMode::Never),
            urls: Vec::new(),
            url_env: None,
            sentinels: Vec::new(),
            sentinel_service: None,
            topology: None,
            tls: false,
            tls_ca: None,
            tls_insecure_skip_verify: false,
            key_prefix: None,
            timeout_ms: None,
            buckets: vec!["a".into(), "".into(), "a".into()],
            deny_buckets: vec!["x".into()],
            read_only: true,
            max_value_size: Some(10),
            max_keys: Some(2),
            page_keys: Some(3),
            seeds: vec![seed("a:k=v"), seed(":k=@@v")],
            seed_files: vec![],
            faults: vec![
                parse_fault("get=access-denied").unwrap(),
                parse_fault("get=other:boom@2").unwrap(),
            ],
            trace: Some(Trace::Text),
        }
        .to_config()
        .unwrap();
        assert_eq!(
            config,
            Config {
                backend: BackendKind::Fs,
                dir: Some("/kv".into()),
                sync: SyncMode::Never,
                allow: vec!["a".into(), "".into()],
                deny: vec!["x".into()],
                read_only: true,
                max_value_size: Some(10),
                max_keys: Some(2),
                page_keys: Some(3),
                trace: Trace::Text,
                // The fault for one call comes first, so that it is not shadowed.
                faults: vec![
                    fault(Op::Get, Some(2), ErrorCase::Other("boom".into())),
                    fault(Op::Get, None, ErrorCase::AccessDenied),
                ],
                seeds: vec![
                    Seed {
                        bucket: "a".into(),
                        key: "k".into(),
                        value: b"v".to_vec()
                    },
                    Seed {
                        bucket: "".into(),
                        key: "k".into(),
                        value: b"@v".to_vec()
                    },
                ],
                redis: RedisConfig::default(),
            }
        );
    }

    #[test]
    fn redis_takes_urls_and_refuses_bad_ones() {
        let redis = ConfigArgs {
            backend: Some(Backend::Redis),
            urls: vec!["redis://127.0.0.1:6379".into()],
            key_prefix: Some("app:".into()),
            timeout_ms: Some(100),
            ..args()
        };
        let config = redis.to_config().unwrap();
        assert_eq!(config.redis.urls, ["redis://127.0.0.1:6379"]);
        assert_eq!(
            (config.redis.key_prefix.as_str(), config.redis.timeout_ms),
            ("app:", Some(100))
        );
        let without_url = ConfigArgs {
            backend: Some(Backend::Redis),
            ..args()
        };
        assert!(error_of(without_url).contains("--backend redis needs --url"));
        let url_without_redis = ConfigArgs {
            urls: vec!["redis://h:1".into()],
            ..args()
        };
        assert!(error_of(url_without_redis).contains("add `--backend redis`"));
        let url_error = |url: &str| format!("{:#}", check_url(url).unwrap_err());
        assert!(url_error("redis://h").contains("has no port"));
        for bad in [
            "redis://u:hunter2@h",
            "redis://:hunter2@h:0",
            "redis://u:hunter2@h:1/x",
            "rediss://u:hunter2@h:1/x",
            "u:hunter2@h:1",
        ] {
            let error = url_error(bad);
            assert!(error.starts_with("invalid --url: "), "{error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        let bad_url_in_args = ConfigArgs {
            backend: Some(Backend::Redis),
            urls: vec!["redis://u:hunter2@h".into()],
            ..args()
        };
        let error = error_of(bad_url_in_args);
        assert!(
            error.contains("has no port") && !error.contains("hunter2"),
            "{error}"
        );
    }

    #[test]
    fn redis_takes_a_url_from_the_environment_and_a_declared_topology() {
        let from_env = ConfigArgs {
            backend: Some(Backend::Redis),
            url_env: Some("REDIS_URL".into()),
            topology: Some(RedisTopology::Standalone),
            ..args()
        };
        let config = from_env.to_config().unwrap();
        assert_eq!(config.redis.url_env.as_deref(), Some("REDIS_URL"));
        assert!(config.redis.urls.is_empty());
        assert_eq!(config.redis.topology, Some(RedisTopology::Standalone));
        let two_standalone = ConfigArgs {
            backend: Some(Backend::Redis),
            urls: vec!["redis://h:1".into(), "redis://h:2".into()],
            topology: Some(RedisTopology::Standalone),
            ..args()
        };
        assert!(error_of(two_standalone).contains("--topology standalone takes one --url"));
        let topology_without_redis = ConfigArgs {
            topology: Some(RedisTopology::Cluster),
            ..args()
        };
        assert!(error_of(topology_without_redis).contains("add `--backend redis`"));
        assert!(parse_topology("sentinel").is_err());
    }

    #[test]
    fn sentinel_needs_its_service_and_excludes_the_other_ways_to_name_servers() {
        let sentinel = || ConfigArgs {
            backend: Some(Backend::Redis),
            sentinels: vec!["redis://:pw@s1:26379".into(), "redis://s2:26379".into()],
            sentinel_service: Some("mymaster".into()),
            ..args()
        };
        let config = sentinel().to_config().unwrap();
        assert_eq!(
            config.redis.urls,
            ["redis://:pw@s1:26379", "redis://s2:26379"]
        );
        assert_eq!(config.redis.sentinel.as_deref(), Some("mymaster"));
        let with = |change: fn(&mut ConfigArgs)| {
            let mut args = sentinel();
            change(&mut args);
            error_of(args)
        };
        let no_service = with(|a| a.sentinel_service = None);
        assert!(
            no_service.contains("--sentinel needs --sentinel-service NAME"),
            "{no_service}"
        );
        let no_sentinel = with(|a| a.sentinels.clear());
        assert!(
            no_sentinel.contains("--sentinel-service `mymaster` needs the Sentinels"),
            "{no_sentinel}"
        );
        let url = with(|a| a.urls = vec!["redis://h:1".into()]);
        assert!(
            url.contains("--sentinel and --url cannot be used together"),
            "{url}"
        );
        let env = with(|a| a.url_env = Some("REDIS_URL".into()));
        assert!(env.contains("--sentinel and --url-env cannot"), "{env}");
        let topology = with(|a| a.topology = Some(RedisTopology::Standalone));
        assert!(
            topology.contains("--sentinel and --topology cannot"),
            "{topology}"
        );
        let spaced = with(|a| a.sentinel_service = Some("my master".into()));
        assert!(spaced.contains("is not a service name"), "{spaced}");
        let bad = with(|a| a.sentinels = vec!["redis://:hunter2@s1".into()]);
        assert!(
            bad.contains("invalid --sentinel: ") && !bad.contains("hunter2"),
            "{bad}"
        );
        let not_redis = with(|a| a.backend = Some(Backend::Memory));
        assert!(not_redis.contains("add `--backend redis`"), "{not_redis}");
    }

    #[test]
    fn redis_refuses_max_keys_and_tls() {
        let max_keys = ConfigArgs {
            backend: Some(Backend::Redis),
            urls: vec!["redis://127.0.0.1:6379".into()],
            max_keys: Some(10),
            ..args()
        };
        let error = error_of(max_keys);
        assert!(
            error.contains("--max-keys is not supported by the redis backend"),
            "{error}"
        );
    }

    #[test]
    fn tls_options_pick_the_tls_build_and_must_agree_with_the_urls() {
        let redis = |urls: &[&str]| ConfigArgs {
            backend: Some(Backend::Redis),
            urls: urls.iter().map(|url| url.to_string()).collect(),
            ..args()
        };
        let plain = redis(&["redis://h:1"]).to_config().unwrap();
        assert!(!plain.redis.tls);
        let secure = redis(&["rediss://u:pw@h:1"]).to_config().unwrap();
        assert!(secure.redis.tls && secure.redis.tls_ca.is_none());
        let from_env = ConfigArgs {
            url_env: Some("REDIS_URL".into()),
            tls: true,
            ..redis(&[])
        };
        assert!(from_env.to_config().unwrap().redis.tls);
        let mixed = error_of(redis(&["rediss://h:1", "redis://h:2"]));
        assert!(mixed.contains("same scheme"), "{mixed}");
        let insecure_on_plain = ConfigArgs {
            tls_insecure_skip_verify: true,
            ..redis(&["redis://h:1"])
        };
        let error = error_of(insecure_on_plain);
        assert!(
            error.contains("--tls-insecure-skip-verify is for rediss:// (TLS) URLs"),
            "{error}"
        );
        let dir = std::env::temp_dir().join(format!("kv-tls-ca-{}", std::process::id()));
        std::fs::write(&dir, "not PEM").unwrap();
        let bad_ca = ConfigArgs {
            tls_ca: Some(dir.clone()),
            ..redis(&["rediss://h:1"])
        };
        let error = error_of(bad_ca);
        let _ = std::fs::remove_file(&dir);
        assert!(
            error.contains("invalid --tls-ca") && error.contains("no certificate"),
            "{error}"
        );
        let tls_without_redis = ConfigArgs {
            tls: true,
            ..args()
        };
        assert!(error_of(tls_without_redis).contains("--tls is only used by the redis backend"));
    }

    #[test]
    fn backend_and_dir_go_together() {
        let fs_without_dir = ConfigArgs {
            backend: Some(Backend::Fs),
            ..args()
        };
        assert!(error_of(fs_without_dir).contains("--backend fs needs --dir GUEST_PATH"));
        let dir_without_fs = ConfigArgs {
            dir: Some("/kv".into()),
            ..args()
        };
        assert!(error_of(dir_without_fs).contains("add `--backend fs`"));
        let dir_with_memory = ConfigArgs {
            backend: Some(Backend::Memory),
            dir: Some("/kv".into()),
            ..args()
        };
        assert!(error_of(dir_with_memory).contains("only used by the fs backend"));
    }

    #[test]
    fn sync_goes_with_the_fs_backend() {
        let sync_without_fs = ConfigArgs {
            sync: Some(SyncMode::Never),
            ..args()
        };
        assert_eq!(
            error_of(sync_without_fs),
            "--sync `never` is only used by the fs backend; add `--backend fs`, or drop --sync"
        );
        let sync_with_memory = ConfigArgs {
            backend: Some(Backend::Memory),
            sync: Some(SyncMode::Always),
            ..args()
        };
        assert!(error_of(sync_with_memory).contains("--sync `always` is only used by the fs"));
        let fs = |sync| ConfigArgs {
            backend: Some(Backend::Fs),
            dir: Some("/kv".into()),
            sync,
            ..args()
        };
        assert_eq!(fs(None).to_config().unwrap().sync, SyncMode::Always);
        assert_eq!(
            fs(Some(SyncMode::Always)).to_config().unwrap().sync,
            SyncMode::Always
        );
        assert_eq!(
            fs(Some(SyncMode::Never)).to_config().unwrap().sync,
            SyncMode::Never
        );
    }

    #[test]
    fn a_bucket_cannot_be_allowed_and_denied() {
        let both = ConfigArgs {
            buckets: vec!["a".into(), "b".into()],
            deny_buckets: vec!["b".into()],
            ..args()
        };
        assert!(error_of(both).contains(r#"bucket "b" is both allowed (--bucket) and denied"#));
    }

    #[test]
    fn the_same_calls_cannot_fail_twice() {
        let twice = ConfigArgs {
            faults: vec![
                parse_fault("get=access-denied@2").unwrap(),
                parse_fault("get=other:x@2").unwrap(),
            ],
            ..args()
        };
        assert!(error_of(twice).contains(
            "--fail `get=access-denied@2` and --fail `get=other:x@2` both decide the same calls"
        ));
        let different_ops = ConfigArgs {
            faults: vec![
                parse_fault("get=access-denied").unwrap(),
                parse_fault("set=access-denied").unwrap(),
            ],
            ..args()
        };
        assert!(different_ops.to_config().is_ok());
    }

    #[test]
    fn seeds_must_be_readable() {
        let not_allowed = ConfigArgs {
            buckets: vec!["a".into()],
            seeds: vec![seed("my bucket:k=v")],
            ..args()
        };
        let error = error_of(not_allowed);
        assert!(
            error.contains(r#"the seed of key "k" in bucket "my bucket" (--seed `my bucket:k=v`)"#)
                && error.contains(r#"not in the --bucket allow list ("a")"#)
                && error.contains("add `--bucket 'my bucket'`"),
            "{error}"
        );
        let denied = ConfigArgs {
            deny_buckets: vec!["a".into()],
            seeds: vec![seed("a:k=v")],
            ..args()
        };
        assert!(error_of(denied).contains("denied by --deny-bucket"));
    }

    #[test]
    fn seeds_must_fit_the_limits() {
        let too_large = ConfigArgs {
            max_value_size: Some(3),
            seeds: vec![seed("a:k=abc"), seed("a:l=abcd")],
            ..args()
        };
        assert!(error_of(too_large).contains("is 4 bytes, more than --max-value-size 3"));
        let too_many = ConfigArgs {
            max_keys: Some(1),
            seeds: vec![seed("a:k=v"), seed("b:k=v"), seed("a:l=v")],
            ..args()
        };
        assert!(error_of(too_many).contains(r#"bucket "a" is seeded with more than --max-keys 1"#));
    }

    #[test]
    fn a_key_is_seeded_once() {
        let twice = ConfigArgs {
            seeds: vec![seed("a:k=1"), seed("a:k=2")],
            ..args()
        };
        assert!(error_of(twice).contains("is seeded twice, also by --seed `a:k=1`"));
    }

    #[test]
    fn a_missing_seed_value_file_is_named() {
        let missing = ConfigArgs {
            seeds: vec![seed("a:k=@/nonexistent/value.bin")],
            ..args()
        };
        assert!(error_of(missing).contains(
            "failed to read `/nonexistent/value.bin` for --seed `a:k=@/nonexistent/value.bin`"
        ));
        let missing_file = ConfigArgs {
            seed_files: vec!["/nonexistent/seeds.json".into()],
            ..args()
        };
        assert!(
            error_of(missing_file).contains("failed to read seed file `/nonexistent/seeds.json`")
        );
    }

    #[test]
    fn fault_spelling_round_trips() {
        for value in [
            "get=other:a@b@2",
            "open=no-such-store",
            "swap=access-denied@7",
            "set=other:",
        ] {
            assert_eq!(fault_spelling(&parse_fault(value).unwrap()), value);
        }
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("users"), "users");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
    }
}
