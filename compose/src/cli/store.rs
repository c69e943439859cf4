//! `inspect`, `export` and `import`: a store directory of the fs backend (`--backend fs`), read
//! and written from the host with the component's own backend code, so the format has one
//! implementation. Dumps use the `--seed-file` shape ([`seed_file`]). In place of a directory,
//! each takes a `redis://` URL: the keys the redis backend wrote there, under `--key-prefix`
//! as for `build` and `plug` (default none), so that data moves between fs and Redis with one
//! dump. `--from APP.wasm` reads the backend, URLs and prefix baked into a plugged app instead.

use std::fmt::Write as _;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use keyvalue_virt_compose::bake::{self, BakeError};
use keyvalue_virt_core::backend::fs::{FORMAT, Fs, damage};
use keyvalue_virt_core::backend::redis::Redis;
use keyvalue_virt_core::backend::{Backend, BucketOps};
use keyvalue_virt_core::bucket::{PAGE_BYTES, PAGE_KEYS};
use keyvalue_virt_core::config::{BackendKind, RedisConfig, RedisUrl, mask};

use super::seed_file::{self, Buckets};

/// The help of `inspect` after its options.
pub const INSPECT_EXAMPLES: &str = "\
DIR is the host directory behind the component's --dir (the HOST_DIR of `wasmtime run --dir \
HOST_DIR::GUEST_PATH`). Nothing in it is changed.

Examples:
  keyvalue-virt inspect ./data
  keyvalue-virt inspect ./data --json";

/// The help of `export` after its options.
pub const EXPORT_EXAMPLES: &str = "\
DIR is the host directory behind the component's --dir. Values that are UTF-8 text are written \
as strings, others as {\"base64\": \"...\"}. The dump can be imported into another store, or \
baked into a component with --seed-file.

Examples:
  keyvalue-virt export ./data > dump.json
  keyvalue-virt import ./copy < dump.json
  keyvalue-virt export redis://127.0.0.1:6379 --key-prefix app: > dump.json";

/// The help of `import` after its options.
pub const IMPORT_EXAMPLES: &str = "\
The dump is checked whole before anything is written: a dump with any error writes nothing. \
Keys in the dump replace the values the store holds; other keys stay. DIR is created if missing; \
an empty directory becomes a store.

Examples:
  keyvalue-virt export ./data > dump.json
  keyvalue-virt import ./copy < dump.json
  keyvalue-virt import ./data --file fixture.json";

/// `inspect DIR [--json]`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The store directory, or a Redis server as redis://[user:password@]HOST:PORT[/DB]
    #[arg(value_name = "DIR", required_unless_present = "from")]
    pub dir: Option<PathBuf>,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Print the whole store, values too, as JSON in the --seed-file shape (like `export`)
    #[arg(long)]
    pub json: bool,
}

/// `export DIR`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The store directory, or a Redis server as redis://[user:password@]HOST:PORT[/DB]
    #[arg(value_name = "DIR", required_unless_present = "from")]
    pub dir: Option<PathBuf>,

    #[command(flatten)]
    pub store: StoreArgs,
}

/// `import DIR [--file FILE]`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The store directory (created if missing), or a Redis server as redis://HOST:PORT[/DB]
    #[arg(value_name = "DIR", required_unless_present = "from")]
    pub dir: Option<PathBuf>,

    #[command(flatten)]
    pub store: StoreArgs,

    /// Read the dump from FILE instead of stdin
    #[arg(long, value_name = "FILE.json")]
    pub file: Option<PathBuf>,
}

/// `--from` and `--key-prefix` of the store commands.
#[derive(Args, Debug, Default)]
pub struct StoreArgs {
    /// Use the store of APP.wasm, an app plugged with keyvalue-virt or a built component
    ///
    /// Reads the backend, the Redis URLs and --key-prefix baked into it. For the fs backend,
    /// give DIR too: the host directory behind the app's --dir.
    #[arg(long, value_name = "APP.wasm")]
    pub from: Option<PathBuf>,

    /// With a redis:// URL: the --key-prefix the component was built with [default: none]
    ///
    /// Only keys that start with PREFIX are read, and every key is written with it, as the
    /// component does; keys outside it are neither listed nor touched.
    #[arg(long, value_name = "PREFIX", conflicts_with = "from")]
    pub key_prefix: Option<String>,

    /// With a rediss:// URL: check the server's certificate against the CA certificates in
    /// FILE (PEM) instead of the built-in roots (Mozilla's)
    #[arg(long, value_name = "FILE", conflicts_with = "from")]
    pub tls_ca: Option<PathBuf>,

    /// INSECURE: with a rediss:// URL, accept any certificate (for test servers only)
    #[arg(long, conflicts_with_all = ["from", "tls_ca"])]
    pub tls_insecure_skip_verify: bool,
}

/// Where a store command reads or writes.
#[derive(Debug)]
pub enum Place {
    /// An fs-backend store directory on this machine.
    Dir(PathBuf),
    /// The keys the redis backend writes with `config`.
    Redis {
        /// The server(s) and key prefix.
        config: RedisConfig,
        /// The first URL, password masked, for messages.
        shown: String,
    },
}

impl Place {
    /// The place as messages show it.
    pub fn shown(&self) -> String {
        match self {
            Place::Dir(dir) => dir.display().to_string(),
            Place::Redis { shown, .. } => shown.clone(),
        }
    }

    /// Where `command` works given its DIR and options: DIR itself, or what `--from` names.
    pub fn resolve(command: &str, dir: Option<&Path>, args: &StoreArgs) -> Result<Place> {
        let Some(app) = &args.from else {
            let Some(dir) = dir else {
                bail!("give the store's directory or redis:// URL, or --from APP.wasm");
            };
            return Place::given(dir, args);
        };
        let shown = app.display();
        let component = super::component::read_component(app)?;
        let config = match bake::read(&component) {
            Ok(config) => config.unwrap_or_default(),
            Err(BakeError::NoSlot) => {
                return Err(super::component::no_virt_inside(app, &component));
            }
            Err(error) => {
                return Err(error)
                    .with_context(|| format!("failed to read the configuration of `{shown}`"));
            }
        };
        match config.backend {
            BackendKind::Memory => bail!(
                "`{shown}` uses the memory backend: its data lives inside each running instance, \
                 and no store outside it can be read; plug the app with `--backend fs --dir /kv` \
                 or `--backend redis --url URL` to keep its data where `{command}` reaches it"
            ),
            BackendKind::Fs => {
                let guest = config.dir.unwrap_or_default();
                match dir {
                    Some(dir) if !is_redis_url(dir) => Ok(Place::Dir(dir.to_path_buf())),
                    _ => bail!(
                        "`{shown}` uses the fs backend with --dir `{guest}`, the path the app \
                         sees; give the host directory behind it too: `keyvalue-virt {command} \
                         --from {shown} ./data` (the HOST_DIR of `wasmtime run --dir \
                         HOST_DIR::{guest}`)"
                    ),
                }
            }
            BackendKind::Redis => {
                if let Some(dir) = dir {
                    bail!(
                        "`{shown}` uses the redis backend, whose URL --from reads from the app; \
                         drop `{}`",
                        mask(&dir.to_string_lossy())
                    );
                }
                let first = config.redis.urls.first().map(String::as_str).unwrap_or("");
                Ok(Place::Redis {
                    shown: mask(first),
                    config: config.redis,
                })
            }
        }
    }

    /// DIR as given: a redis:// or rediss:// URL (under `--key-prefix`, with the TLS
    /// options) or a directory.
    fn given(dir: &Path, args: &StoreArgs) -> Result<Place> {
        let key_prefix = args.key_prefix.as_deref();
        if let Some(text) = dir.to_str()
            && let Some((scheme, _)) = text.split_once("://")
            && scheme != "redis"
            && scheme != "rediss"
        {
            // A URL of another scheme is never taken for a directory (`rediss:` would be one).
            let problem = match RedisUrl::parse(text) {
                Err(problem) => problem,
                Ok(_) => format!("`{}` is not a redis:// URL", mask(text)),
            };
            bail!("{problem}");
        }
        if let Some(url) = dir.to_str().filter(|_| is_redis_url(dir)) {
            let tls = url.starts_with("rediss://");
            if !tls && (args.tls_ca.is_some() || args.tls_insecure_skip_verify) {
                bail!(
                    "--tls-ca and --tls-insecure-skip-verify are for rediss:// (TLS) URLs, and \
                     `{}` is redis://; write rediss://HOST:PORT for the server's TLS port",
                    mask(url)
                );
            }
            let tls_ca = match &args.tls_ca {
                None => None,
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("failed to read --tls-ca `{}`", path.display()))?,
                ),
            };
            return Ok(Place::Redis {
                config: RedisConfig {
                    urls: vec![url.to_owned()],
                    key_prefix: key_prefix.unwrap_or_default().to_owned(),
                    tls,
                    tls_ca,
                    tls_insecure_skip_verify: args.tls_insecure_skip_verify,
                    ..RedisConfig::default()
                },
                shown: mask(url),
            });
        }
        if args.tls_ca.is_some() || args.tls_insecure_skip_verify {
            bail!(
                "--tls-ca and --tls-insecure-skip-verify are only used with a rediss:// URL, \
                 not with the directory `{}`; drop them",
                dir.display()
            );
        }
        if key_prefix.is_some() {
            bail!(
                "--key-prefix is only used with a redis:// URL, not with the directory `{}`; \
                 drop --key-prefix",
                dir.display()
            );
        }
        Ok(Place::Dir(dir.to_path_buf()))
    }
}

/// Whether DIR is a `redis://` or `rediss://` URL rather than a directory.
fn is_redis_url(dir: &Path) -> bool {
    dir.to_str()
        .is_some_and(|text| text.starts_with("redis://") || text.starts_with("rediss://"))
}

/// Runs `inspect`.
pub fn inspect(args: InspectArgs) -> Result<()> {
    let place = Place::resolve("inspect", args.dir.as_deref(), &args.store)?;
    let buckets = read_store(&place)?;
    note_prefixed_keys(&place, &buckets);
    if args.json {
        print_json(&buckets)
    } else {
        print!("{}", text(&place.shown(), &buckets));
        print!("{}", damage_text(&damage::damaged()));
        Ok(())
    }
}

/// Runs `export`.
pub fn export(args: ExportArgs) -> Result<()> {
    let place = Place::resolve("export", args.dir.as_deref(), &args.store)?;
    let buckets = read_store(&place)?;
    let damaged = damage::damaged();
    if !damaged.is_empty() {
        // A dump is a backup: one that silently lacks keys would be found out too late.
        bail!(
            "failed to export `{0}`: {1}run `keyvalue-virt repair {0}` to empty the damaged files \
             (their keys are lost), then export again",
            place.shown(),
            damage_text(&damaged),
        );
    }
    print_json(&buckets)?;
    let keys: usize = buckets.values().map(|keys| keys.len()).sum();
    eprintln!(
        "exported {} and {} from `{}`",
        count(buckets.len(), "bucket"),
        count(keys, "key"),
        place.shown()
    );
    note_prefixed_keys(&place, &buckets);
    Ok(())
}

/// Runs `import`.
pub fn import(args: ImportArgs) -> Result<()> {
    let place = Place::resolve("import", args.dir.as_deref(), &args.store)?;
    let (bytes, source) = match &args.file {
        Some(path) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("failed to read seed file `{}`", path.display()))?;
            (bytes, format!("`{}`", path.display()))
        }
        None => {
            let mut stdin = std::io::stdin();
            if stdin.is_terminal() {
                bail!(
                    "`import` reads the dump from stdin, which is a terminal; run `keyvalue-virt \
                     import {} < dump.json`, or pass --file dump.json",
                    place.shown()
                );
            }
            let mut bytes = Vec::new();
            stdin
                .read_to_end(&mut bytes)
                .context("failed to read the dump from stdin")?;
            if bytes.is_empty() {
                bail!(
                    "nothing on stdin: pipe the dump in (`keyvalue-virt import {} < dump.json`), \
                     or pass --file dump.json",
                    place.shown()
                );
            }
            (bytes, "on stdin".to_owned())
        }
    };
    let buckets = seed_file::parse_buckets(&bytes)
        .map_err(|problem| anyhow!("invalid seed file {source}: {problem}"))?;
    let keys = write_store(&place, &buckets)?;
    eprintln!(
        "imported {} into {} of `{}`",
        count(keys, "key"),
        count(buckets.len(), "bucket"),
        place.shown()
    );
    Ok(())
}

/// Every bucket, key and value of the store at `place`. Reads only.
pub fn read_store(place: &Place) -> Result<Buckets> {
    let dir = match place {
        Place::Redis { config, shown } => {
            let store = redis_store(config)?;
            let names = store
                .buckets()
                .with_context(|| format!("failed to list the buckets on `{shown}`"))?;
            return read_buckets(&store, names, shown);
        }
        Place::Dir(dir) => dir,
    };
    check_host_dir(dir)?;
    refuse_foreign(dir, false)?;
    let in_dir = || format!("failed to read the store in `{}`", dir.display());
    let store = Fs::new(dir, false, false);
    let names = store.buckets().with_context(in_dir)?;
    read_buckets(&store, names, &dir.display().to_string())
}

/// Notes, on a Redis store read without a key prefix, the buckets whose every key holds a `:`:
/// they look like the keys of a component plugged with `--key-prefix BUCKET:`.
fn note_prefixed_keys(place: &Place, buckets: &Buckets) {
    let Place::Redis { config, .. } = place else {
        return;
    };
    if !config.key_prefix.is_empty() {
        return;
    }
    for (name, keys) in buckets {
        if let Some(first) = keys.keys().next()
            && keys.keys().all(|key| key.contains(':'))
        {
            eprintln!(
                "note: every key of bucket {name:?} holds a `:` (like {first:?}); if the app was \
                 plugged with `--key-prefix {name}:`, these are its buckets: pass `--key-prefix \
                 {name}:`, or `--from APP.wasm` to read the prefix from the app"
            );
        }
    }
}

/// The redis backend with `config`.
fn redis_store(config: &RedisConfig) -> Result<Redis> {
    Redis::new(config).map_err(|e| anyhow!("{e}"))
}

/// Every key and value of the buckets `names` of `store`, which is shown as `place`.
fn read_buckets<B: Backend>(store: &B, names: Vec<String>, place: &str) -> Result<Buckets> {
    let dir = Path::new(place);
    let in_dir = || format!("failed to read the store in `{place}`");
    let mut buckets = Buckets::new();
    for name in names {
        let bucket = store.open(&name).with_context(in_dir)?;
        let mut keys = Vec::new();
        let mut from = Some(0);
        while let Some(position) = from {
            from = bucket
                .keys(position, &mut keys, PAGE_KEYS, PAGE_BYTES)
                .with_context(|| {
                    format!("failed to list bucket {name:?} in `{}`", dir.display())
                })?;
        }
        let mut values = std::collections::BTreeMap::new();
        for key in keys {
            let value = bucket.get(&key).with_context(|| {
                format!(
                    "failed to read key {key:?} of bucket {name:?} in `{}`",
                    dir.display()
                )
            })?;
            // A key deleted meanwhile by a running app is left out.
            if let Some(value) = value {
                values.insert(key, value);
            }
        }
        buckets.insert(name, values);
    }
    Ok(buckets)
}

/// Writes every bucket and key of `buckets` into the store at `place` (creating a directory,
/// and the store in it, if needed); returns how many keys it wrote.
pub fn write_store(place: &Place, buckets: &Buckets) -> Result<usize> {
    let dir = match place {
        Place::Redis { config, shown } => {
            return write_buckets(&redis_store(config)?, buckets, shown);
        }
        Place::Dir(dir) => dir,
    };
    if let Err(e) = std::fs::metadata(dir)
        && e.kind() == std::io::ErrorKind::NotFound
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("failed to create the store directory `{}`", dir.display()))?;
    }
    check_host_dir(dir)?;
    refuse_foreign(dir, true)?;
    let store = Fs::new(dir, true, true);
    // Checks the store's format and that it is writable before any write, and makes an empty
    // directory a store even for a dump with no buckets.
    store
        .buckets()
        .with_context(|| format!("failed to open the store in `{}`", dir.display()))?;
    write_buckets(&store, buckets, &dir.display().to_string())
}

/// Writes every bucket and key of `buckets` into `store`, which is shown as `place`.
fn write_buckets<B: Backend>(store: &B, buckets: &Buckets, place: &str) -> Result<usize> {
    let dir = Path::new(place);
    let mut written = 0;
    for (name, keys) in buckets {
        let bucket = store
            .open(name)
            .with_context(|| format!("failed to open bucket {name:?} in `{}`", dir.display()))?;
        for (key, value) in keys {
            bucket.set(key.clone(), value.clone()).with_context(|| {
                format!(
                    "failed to write key {key:?} of bucket {name:?} in `{}`",
                    dir.display()
                )
            })?;
            written += 1;
        }
    }
    Ok(written)
}

/// Refuses a `dir` that is missing or a file, in the host's words: the backend's own message
/// speaks to a component (grant a directory with `wasmtime run --dir`), but here the user named
/// a path on this machine.
fn check_host_dir(dir: &Path) -> Result<()> {
    let shown = dir.display();
    let metadata = match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "there is no directory `{shown}` (no such file or directory); give the host \
             directory that holds the store: the HOST_DIR of `wasmtime run --dir \
             HOST_DIR::GUEST_PATH`"
        ),
        Err(e) => return Err(e).with_context(|| format!("failed to read `{shown}`")),
        Ok(metadata) => metadata,
    };
    if metadata.is_dir() {
        return Ok(());
    }
    let mut magic = [0u8; 4];
    let is_wasm = std::fs::File::open(dir)
        .and_then(|mut file| file.read_exact(&mut magic))
        .is_ok()
        && &magic == b"\0asm";
    if is_wasm {
        bail!(
            "`{shown}` is a file (a WebAssembly component), not a store directory; to use the \
             store of the app it is, pass `--from {shown}` and, for the fs backend, the host \
             directory: `--from {shown} ./data`"
        );
    }
    bail!(
        "`{shown}` is a file, not a directory; give the host directory that holds the store: \
         the HOST_DIR of `wasmtime run --dir HOST_DIR::GUEST_PATH`"
    )
}

/// Refuses a directory with files but no `FORMAT`, which is not a store. The backend reports
/// every other bad store directory (missing, not a directory, another format), but takes this
/// one for a store (empty when read, made one when written): fine for the `--dir` a component
/// is built with, but these commands are pointed at a directory by hand, so a wrong path is
/// refused rather than read as empty or written into.
fn refuse_foreign(dir: &Path, writing: bool) -> Result<()> {
    if !dir.is_dir() || dir.join("FORMAT").exists() {
        return Ok(());
    }
    let shown = dir.display();
    let mut entries =
        std::fs::read_dir(dir).with_context(|| format!("failed to list `{shown}`"))?;
    if entries.next().is_some() {
        let fix = if writing {
            "import into an empty directory or an existing store"
        } else {
            "give the directory of a store written by keyvalue-virt's fs backend"
        };
        bail!(
            "`{shown}` is not a keyvalue-virt store: it is not empty but has no `FORMAT` \
             file (a store starts with one holding {:?}); {fix}",
            String::from_utf8_lossy(FORMAT).trim_end()
        );
    }
    Ok(())
}

/// The store as text: a line per bucket, then one per key with its value's size.
pub fn text(place: &str, buckets: &Buckets) -> String {
    let mut out = String::new();
    if buckets.is_empty() {
        let _ = writeln!(out, "no buckets in `{place}`");
    }
    for (name, keys) in buckets {
        let bytes: usize = keys.values().map(Vec::len).sum();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "bucket {name:?}: {}, {}",
            count(keys.len(), "key"),
            count(bytes, "byte")
        );
        for (key, value) in keys {
            let _ = writeln!(out, "  {key:?}  {}", count(value.len(), "byte"));
        }
    }
    out
}

fn print_json(buckets: &Buckets) -> Result<()> {
    let json = serde_json::to_string_pretty(&seed_file::render_buckets(buckets))
        .context("failed to render the store as JSON")?;
    println!("{json}");
    Ok(())
}

/// The damaged files a walk skipped, as `inspect` prints them after the keys (nothing when
/// there are none).
pub fn damage_text(damaged: &[String]) -> String {
    let mut out = String::new();
    if !damaged.is_empty() {
        let _ = writeln!(
            out,
            "{} skipped (the keys in them are left out):",
            count(damaged.len(), "damaged file")
        );
    }
    for message in damaged {
        let _ = writeln!(out, "  {message}");
    }
    out
}

/// `1 key`, `2 keys`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bucket's keys and values, for [`buckets`].
    type Keys<'a> = &'a [(&'a str, &'a [u8])];

    fn buckets(entries: &[(&str, Keys<'_>)]) -> Buckets {
        entries
            .iter()
            .map(|(bucket, keys)| {
                let keys = keys
                    .iter()
                    .map(|(key, value)| (key.to_string(), value.to_vec()))
                    .collect();
                (bucket.to_string(), keys)
            })
            .collect()
    }

    #[test]
    fn write_then_read_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let data = buckets(&[
            ("", &[("", b""), ("k", b"v")]),
            ("bin", &[("blob", &[0, 255, 1]), ("/..", b"x")]),
            ("empty", &[]),
        ]);
        assert_eq!(write_store(&Place::Dir(store.clone()), &data).unwrap(), 4);
        assert_eq!(read_store(&Place::Dir(store.clone())).unwrap(), data);
        // Writing again replaces values and keeps other keys.
        let more = buckets(&[("", &[("k", b"w")])]);
        write_store(&Place::Dir(store.clone()), &more).unwrap();
        let mut expected = data;
        expected
            .get_mut("")
            .unwrap()
            .insert("k".into(), b"w".to_vec());
        assert_eq!(read_store(&Place::Dir(store.clone())).unwrap(), expected);
    }

    /// A damaged slot costs only its keys: the rest is read, and `inspect` names the file.
    #[test]
    fn a_damaged_slot_is_skipped_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let data = buckets(&[("b", &[("k1", b"1"), ("k2", b"2"), ("k3", b"3")])]);
        write_store(&Place::Dir(store.clone()), &data).unwrap();
        let bucket = std::fs::read_dir(&store)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .unwrap();
        let shard = std::fs::read_dir(&bucket)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .unwrap();
        let slot = std::fs::read_dir(&shard).unwrap().next().unwrap().unwrap();
        std::fs::write(slot.path().join("r"), "damaged").unwrap();
        let read = read_store(&Place::Dir(store.clone())).unwrap();
        assert_eq!(read["b"].len(), 2, "{read:?}");
        let damaged = damage::damaged();
        let text = damage_text(&damaged);
        assert!(text.starts_with("1 damaged file skipped"), "{text}");
        assert!(text.contains(&*slot.path().to_string_lossy()), "{text}");
    }

    #[test]
    fn text_lists_buckets_then_keys_with_sizes() {
        let data = buckets(&[("a", &[("k", b"v"), ("l", b"vw")]), ("e", &[])]);
        assert_eq!(
            text("d", &data),
            "bucket \"a\": 2 keys, 3 bytes\n  \"k\"  1 byte\n  \"l\"  2 bytes\n\
             bucket \"e\": 0 keys, 0 bytes\n"
        );
        assert_eq!(text("d", &Buckets::new()), "no buckets in `d`\n");
    }

    #[test]
    fn directories_that_are_not_stores_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let error = format!(
            "{:#}",
            read_store(&Place::Dir(missing.clone())).unwrap_err()
        );
        assert!(error.contains("there is no directory"), "{error}");
        assert!(!error.contains("grant"), "{error}");
        assert!(!missing.exists());
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let error = format!(
            "{:#}",
            write_store(&Place::Dir(file.clone()), &Buckets::new()).unwrap_err()
        );
        assert!(error.contains("is a file, not a directory"), "{error}");
        std::fs::remove_file(&file).unwrap();

        std::fs::write(dir.path().join("notes.txt"), "hi").unwrap();
        let error = format!(
            "{:#}",
            read_store(&Place::Dir(dir.path().to_path_buf())).unwrap_err()
        );
        assert!(error.contains("is not a keyvalue-virt store"), "{error}");
        let error = format!(
            "{:#}",
            write_store(&Place::Dir(dir.path().to_path_buf()), &Buckets::new()).unwrap_err()
        );
        assert!(error.contains("import into an empty directory"), "{error}");
        assert!(!dir.path().join("FORMAT").exists());

        std::fs::remove_file(dir.path().join("notes.txt")).unwrap();
        std::fs::write(dir.path().join("FORMAT"), "keyvalue-virt store, format 9\n").unwrap();
        let error = format!(
            "{:#}",
            write_store(&Place::Dir(dir.path().to_path_buf()), &Buckets::new()).unwrap_err()
        );
        assert!(error.contains("another format"), "{error}");
    }
}
